#!/usr/bin/env bash
# The CPU kernels on the device machine's host CPU, which (unlike the 2-core dev VM) may have
# AVX-512 with BF16 and VNNI: the kernel tests natively (the AVX-512 cases skip elsewhere) and
# bench_quant's bf16/Q8_0 matmuls, AVX-512 beside AVX2, in one call.
#   scripts/cpu-host-check.sh --stage [build-dir]   # here: copy the binaries to .cpu-bin
#   scripts/cpu-host-check.sh                        # there (run tool, carry .cpu-bin)
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stage" ]]; then
  build="${2:-build/release}"
  mkdir -p .cpu-bin/lib
  cp "$build/tests/test_backend_cpu" "$build/tests/test_quant" "$build/tests/test_model" \
    "$build/bench/bench_quant" .cpu-bin/
  strip .cpu-bin/test_* .cpu-bin/bench_quant
  # Debian's shared libraries that an Ubuntu image without apt may lack travel along.
  for lib in libbenchmark.so.1debian libutf8proc.so.2 libpcre2-8.so.0; do
    cp -L "$(ldconfig -p | awk -v l=$lib '$1 == l {print $NF; exit}')" .cpu-bin/lib/
  done
  du -sh .cpu-bin
  exit 0
fi
OUT="${OUT:-/tmp/cpu-host-check}"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.cpu-bin/lib:${LD_LIBRARY_PATH:-}"
# The tests read fixtures at the path baked in at build time (/work/main/...): point it at this copy.
if [[ ! -d /work/main/tests/fixtures ]]; then mkdir -p /work && ln -sfn "$PWD" /work/main; fi
{
  lscpu | grep -E "Model name|^CPU\(s\)"
  grep -o -w -E "avx512(f|bw|vl|dq|vbmi|_vnni|_bf16)" /proc/cpuinfo | sort -u | tr '\n' ' '
  echo
} | tee "$OUT/cpu.txt"
rc=0
for t in test_backend_cpu test_quant test_model; do
  timeout 120 ".cpu-bin/$t" --gtest_brief=1 > "$OUT/$t.log" 2>&1 || rc=1
  echo "$t: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/$t.log" | tr '\n' ' ')"
done
timeout 240 .cpu-bin/bench_quant --benchmark_filter='BF16|Q8_0' --benchmark_min_time=0.3 \
  > "$OUT/bench_quant.txt" 2>&1 || rc=1
grep -E "^BM_" "$OUT/bench_quant.txt" | sed -E 's/ +[0-9.]+ ms +[0-9]+ / /'
exit $rc
