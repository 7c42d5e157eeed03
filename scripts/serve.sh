#!/usr/bin/env bash
# Sets up and runs pdfprompt on the embedded default: SQLite and PDFs under
# PDFPROMPT_DATA_DIR (default ./.data), API and worker in one process.
# Extra arguments go to `pdfprompt serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PDFPROMPT_DATA_DIR="${PDFPROMPT_DATA_DIR:-$PWD/.data}"
echo "setup: done; create an API key in another shell with:"
echo "  PDFPROMPT_DATA_DIR=$PDFPROMPT_DATA_DIR .venv/bin/pdfprompt users create you@example.com"
exec .venv/bin/pdfprompt serve "$@"
