#!/usr/bin/env bash
# Runs a benchmark with its peers installed side by side (the `bench` extra).
#   scripts/bench.sh queue [--jobs N] [--concurrency C] [--rounds R]
#   scripts/bench.sh render [--docs N] [--slow-docs N] [--rounds R] [--soak N] [--only CASES]
#   scripts/bench.sh prompt [--jobs N] [--latency-ms MS] [--slots N]
#   scripts/bench.sh llm [--answers N] [--latency-ms MS] [--rounds R]
#   scripts/bench.sh api [--requests N] [--connections C] [--rounds R]
#   scripts/bench.sh bomb [--cases ENGINE:BOMB,...] [--before REV]
#   scripts/bench.sh web [--documents N] [--requests N]
#   scripts/bench.sh url [--docs N] [--rounds R]
#   scripts/bench.sh batch [--rows N] [--rounds R] [--render-rows N] [--single-jobs N] [--skip-queueing]
#   scripts/bench.sh sign [--rounds R]
#   scripts/bench.sh finish [--rounds R]
# PostgreSQL: PDFPROMPT_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
name="${1:-queue}"
shift || true
exec .venv/bin/python "bench/${name}_bench.py" "$@"
