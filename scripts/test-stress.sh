#!/usr/bin/env bash
# The unit suite under load: RUNS times (default 3) in random order, each with a new
# seed, while one busy-looping process per core competes for the CPU — what a shared
# CI machine does to the suite. Every failure of every run is reported; the exit code
# is non-zero when any run failed.
#
#   scripts/test-stress.sh            (make test-stress)
#   RUNS=5 scripts/test-stress.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runs="${RUNS:-3}"
py=.venv/bin/python
logdir=var/test-stress
mkdir -p "$logdir"

hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; wait "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
for _ in $(seq 1 "$(nproc)"); do
  "$py" -c 'while True: pass' &
  hogs+=($!)
done
echo "[stress] ${#hogs[@]} CPU hog(s) running; $runs run(s) of the unit suite in random order"

failed_runs=0
for i in $(seq 1 "$runs"); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  log="$logdir/run-$i.log"
  "$py" -m pytest tests --ignore=tests/e2e -q -n "${TEST_WORKERS:-auto}" --dist loadgroup -p randomly --randomly-seed="$seed" \
    >"$log" 2>&1
  code=$?
  summary=$(tail -n 1 "$log")
  echo "[stress] run $i (seed $seed): exit $code — $summary"
  if [ "$code" != 0 ]; then
    failed_runs=$((failed_runs + 1))
    grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/[stress]   /'
  fi
done
echo "[stress] $failed_runs of $runs run(s) failed; logs in $logdir/"
[ "$failed_runs" = 0 ]
