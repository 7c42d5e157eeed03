#!/usr/bin/env bash
# Writes requirements/constraints.txt: the exact version of every package pdfprompt, its
# tests and its benchmarks install (`pyproject.toml`'s dependencies and extras, resolved
# for every platform and Python 3.11 up), which scripts/setup.sh and scripts/bench.sh
# install with. Run it on purpose to move to newer releases, then run the tests.
#   scripts/lock.sh                               every package at the newest version allowed
#   scripts/lock.sh --upgrade-package NAME ...    those only; the others stay as they are
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if [ $# -eq 0 ]; then set -- --upgrade; fi
.venv/bin/uv pip compile pyproject.toml --extra test --extra bench --universal \
  --python-version 3.11 -q -o requirements/constraints.txt "$@"
echo "lock: requirements/constraints.txt has $(grep -c '==' requirements/constraints.txt) packages"
