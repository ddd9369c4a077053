#!/usr/bin/env bash
# Runs every fuzz target for N minutes each (default 10), one after another, and prints the
# execution count of each. Usage: [TARGETS="decoder stream"] fuzz/run_all.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")"
minutes=${1:-10}
python3 make_corpus.py
for t in ${TARGETS:-$(cargo +nightly fuzz list)}; do
  mkdir -p corpus/"$t"
  echo "== $t: ${minutes} min"
  cargo +nightly fuzz run "$t" corpus/"$t" -- -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -timeout=10 2>&1 \
    | tee "run-$t.log" | grep -E "^Done|ERROR|SUMMARY" || true
done
