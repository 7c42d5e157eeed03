#!/usr/bin/env bash
# Sets up and runs every check: formatting, lint, types, layer contracts (beside the tests),
# and the test suite (unit, integration on SQLite and PostgreSQL, end-to-end with real
# Chromium).
# PostgreSQL: PDFPROMPT_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
# with CI=true its tests must run, elsewhere they are skipped when it is unreachable.
# The tests run in PDFPROMPT_TEST_WORKERS processes (default: twice the cores, at most 4, as
# the tests mostly wait on the servers, browsers and databases they drive; 0 runs them in
# this one), a test file's tests on one database to a process, the longest groups
# first (tests/support/scheduling.py); then the tests marked `exclusive` (they restart a
# server the others share) run alone. Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# The static checks (a minute or two of mypy from a fresh clone) run beside the tests, which
# mostly wait on servers and browsers; their output is shown, and their failure fails the
# run, once the tests are done.
checks_log=$(mktemp)
(
  .venv/bin/ruff format --check src tests bench
  .venv/bin/ruff check src tests bench
  .venv/bin/mypy
  .venv/bin/lint-imports
) >"$checks_log" 2>&1 &
checks=$!
checks_done() {
  local rc=0
  wait "$checks" || rc=$?
  cat "$checks_log"
  rm -f "$checks_log"
  [ "$rc" -eq 0 ] || echo "test.sh: the static checks failed (above)" >&2
  return "$rc"
}

cores=$(nproc)
workers=${PDFPROMPT_TEST_WORKERS:-$((2 * cores < 4 ? 2 * cores : 4))}
# pytest exits 5 when it collected nothing, as when the arguments pick no exclusive test.
run() {
  .venv/bin/pytest "$@" || {
    rc=$?
    [ "$rc" -eq 5 ] && return 5
    checks_done || true
    exit "$rc"
  }
}
shared=0 alone=0
run -n "$workers" --dist loadgroup -m "not exclusive" "$@" || shared=$?
run -p no:xdist -m exclusive "$@" || alone=$?
checks_done
if [ "$shared" -eq 5 ] && [ "$alone" -eq 5 ]; then
  echo "no test matched" >&2
  exit 5
fi
