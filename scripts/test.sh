#!/usr/bin/env bash
# Sets up and runs every check: formatting, lint, types, layer contracts, and the test suite
# (unit, integration on SQLite and PostgreSQL, end-to-end with real Chromium).
# PostgreSQL: PDFPROMPT_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
# with CI=true its tests must run, elsewhere they are skipped when it is unreachable.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff format --check src tests bench
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest "$@"
