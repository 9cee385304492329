#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target for a while on a scratch copy of its seed corpus.
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]
set -euo pipefail
BUILD=${1:-build/fuzz}
SECS=${2:-60}
for bin in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  corpus="build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  cp -n tests/fixtures/fuzz-corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzz $name for ${SECS}s"
  "$bin" -max_total_time="$SECS" -print_final_stats=1 "$corpus" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY" || true
done
