#!/usr/bin/env bash
# The test-suite soak: the README's test command (`scripts/test.sh`, with CI=true so nothing
# is skipped) RUNS times in a row (default 5) while a CPU burner keeps one core busy, to find
# the tests that fail only on a slow or busy machine. Every run's log goes to LOGDIR (default
# soak-logs/), one line per run is printed as it ends, then a summary with every test that
# failed at least once. Exits 1 when any run failed.
#   scripts/soak.sh [RUNS] [pytest arguments...]
# The burner is stress-ng (`--cpu 1`) where it is installed, else a Python busy loop; either
# stops by itself at a deadline (RUNS hours) and is stopped when the soak ends.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
logdir=${LOGDIR:-soak-logs}
mkdir -p "$logdir"
scripts/setup.sh test >/dev/null

deadline=$((runs * 3600))
if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu 1 --timeout "${deadline}s" --quiet &
  burner="stress-ng --cpu 1"
else
  python3 -c "
import time
end = time.monotonic() + $deadline
while time.monotonic() < end:
    pass
" &
  burner="a Python busy loop"
fi
burner_pid=$!
trap 'kill "$burner_pid" 2>/dev/null || true; pkill -P "$burner_pid" 2>/dev/null || true' EXIT

echo "soak: $runs runs of scripts/test.sh with one core busy ($burner), logs in $logdir/"
failed_runs=0
for i in $(seq 1 "$runs"); do
  log="$logdir/run-$i.log"
  start=$(date +%s)
  rc=0
  CI=true scripts/test.sh "$@" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  # Both pytest runs' summaries (the shared tests', then the exclusive ones'), joined by " + ".
  summary=$(grep -E '^=+ .*(passed|failed|error).* =+$' "$log" | tr -d '=' | sed 's/^ *//; s/ *$//' \
    | paste -sd '+' | sed 's/+/ + /g' || true)
  echo "run $i: exit $rc in ${took} s: ${summary:-no pytest summary}"
  [ "$rc" -eq 0 ] || failed_runs=$((failed_runs + 1))
done

echo "soak: $failed_runs of $runs runs failed"
failures=$(grep -hE '^(FAILED|ERROR) ' "$logdir"/run-*.log | sed -E 's/ - .*//' | sort | uniq -c | sort -rn || true)
if [ -n "$failures" ]; then
  echo "tests that failed (runs):"
  echo "$failures"
fi
[ "$failed_runs" -eq 0 ]
