#!/usr/bin/env bash
# Sets up and runs every check: formatting, lint, types, layer contracts, and the test suite
# (unit, integration on SQLite and PostgreSQL, end-to-end with real Chromium).
# PostgreSQL: PDFPROMPT_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
# with CI=true its tests must run, elsewhere they are skipped when it is unreachable.
# The tests run in PDFPROMPT_TEST_WORKERS processes (default: the cores, at most 4; 0 runs
# them in this one), a test file to a process; then the tests marked `exclusive` (they
# restart a server the others share) run alone. Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff format --check src tests bench
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports

cores=$(nproc)
workers=${PDFPROMPT_TEST_WORKERS:-$((cores < 4 ? cores : 4))}
# pytest exits 5 when it collected nothing, as when the arguments pick no exclusive test.
run() { .venv/bin/pytest "$@" || { rc=$?; [ "$rc" -eq 5 ] && return 5; exit "$rc"; }; }
shared=0 alone=0
run -n "$workers" --dist loadfile -m "not exclusive" "$@" || shared=$?
run -p no:xdist -m exclusive "$@" || alone=$?
if [ "$shared" -eq 5 ] && [ "$alone" -eq 5 ]; then
  echo "no test matched" >&2
  exit 5
fi
