#!/usr/bin/env bash
# Runs a benchmark with its peers installed side by side (the `bench` extra).
#   scripts/bench.sh queue [--jobs N] [--concurrency C] [--rounds R]
#   scripts/bench.sh render [--docs N] [--slow-docs N] [--rounds R] [--soak N] [--only CASES] [--before DIR]
#   scripts/bench.sh prompt [--jobs N] [--latency-ms MS] [--slots N]
#   scripts/bench.sh prompts [--provider fake|settings] [--rounds R] [--cost-renders N]
#   scripts/bench.sh llm [--answers N] [--latency-ms MS] [--rounds R]
#   scripts/bench.sh api [--requests N] [--connections C] [--rounds R]
#   scripts/bench.sh bomb [--cases ENGINE:BOMB,...] [--before REV]
#   scripts/bench.sh web [--documents N] [--requests N]
#   scripts/bench.sh url [--docs N] [--rounds R]
#   scripts/bench.sh batch [--rows N] [--rounds R] [--render-rows N] [--single-jobs N] [--skip-queueing]
#   scripts/bench.sh sign [--rounds R]
#   scripts/bench.sh finish [--rounds R]
#   scripts/bench.sh markdown [--rounds R] [--engines chromium,weasyprint]
#   scripts/bench.sh scale [--docs invoice,report5,report20,prompt] [--workers 1,2,3] [--jobs-scale F] [--rounds R] [--llm-latency-ms MS] [--db-cost-jobs N] [--bed]
#   scripts/bench.sh markdown-compare [--input FILE] [--out DIR] [--tools pdfprompt,pandoc,md-to-pdf]
#   scripts/bench.sh chaos [--jobs 3000] [--users 5] [--fault-every-s 5]   (root: network namespaces)
# PostgreSQL: PDFPROMPT_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-queue}"
shift || true
if [ "$name" = markdown-compare ]; then
  # Its peers (pandoc, md-to-pdf) come with the bench setup; then it runs offline.
  scripts/setup.sh bench
  exec .venv/bin/python bench/markdown_compare.py "$@"
fi
scripts/setup.sh bench-packages
exec .venv/bin/python "bench/${name}_bench.py" "$@"
