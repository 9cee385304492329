#!/usr/bin/env bash
# One device call: the prebuilt CUDA tests, the model benchmark and the engine benchmark (osprey bench
# offline --device cuda) from .gpu-bin/ (built on the dev machine with `scripts/gpu-check.sh --stage`),
# logs under $OUT, a short table last.
#   scripts/gpu-check.sh --stage [build-dir]   # here: copy test_cuda, osprey_cuda_bench, osprey
#   scripts/gpu-check.sh                        # on the GPU machine (run tool, carry .gpu-bin)
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stage" ]]; then
  build="${2:-build/cuda}"
  mkdir -p .gpu-bin
  cp "$build/tests/test_cuda" "$build/osprey_cuda_bench" "$build/osprey" .gpu-bin/
  strip .gpu-bin/test_cuda .gpu-bin/osprey_cuda_bench .gpu-bin/osprey
  # Libraries Debian has and the device image (Ubuntu 24.04, no apt) may lack travel with the binaries.
  mkdir -p .gpu-bin/lib
  for lib in libutf8proc.so.2 libpcre2-8.so.0; do
    cp -L "$(ldconfig -p | awk -v l=$lib '$1 == l {print $NF; exit}')" .gpu-bin/lib/
  done
  ls -la .gpu-bin .gpu-bin/lib
  exit 0
fi
OUT="${OUT:-/tmp/gpu-check}"
export LD_LIBRARY_PATH="$PWD/.gpu-bin/lib:${LD_LIBRARY_PATH:-}"
# cuBLAS is linked shared: find the toolkit's (or PyTorch's) copy when the loader does not know it.
if ! ldconfig -p | grep -q libcublas.so.13; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia.cublas as m, os; print(os.path.dirname(m.__file__) + "/lib")' 2>/dev/null); do
    if [[ -e "$d/libcublas.so.13" ]]; then export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; break; fi
  done
fi
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/nvidia-smi.txt"
# The tests read fixtures at the path baked in at build time (/work/main/...): point it at this copy.
if [[ ! -d /work/main/tests/fixtures ]]; then mkdir -p /work && ln -sfn "$PWD" /work/main; fi
timeout 150 .gpu-bin/test_cuda --gtest_brief=1 2>&1 | tee "$OUT/test_cuda.log"
test_rc=${PIPESTATUS[0]}
# Seeded draws must repeat bit for bit, run after run.
timeout 60 .gpu-bin/test_cuda --gtest_brief=1 --gtest_filter='CudaEngine.Seeded*' \
  --gtest_repeat=5 > "$OUT/test_repeat.log" 2>&1 || test_rc=$?
# The newest kernel under compute-sanitizer where the image has it: out-of-bounds accesses
# (memcheck) and shared-memory races (racecheck) in the streaming GEMM's test cases.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [[ -n "$sanitizer" && -z "${GPU_CHECK_QUICK:-}" ]]; then
  for tool in memcheck racecheck; do
    timeout 60 "$sanitizer" --tool $tool .gpu-bin/test_cuda --gtest_brief=1 \
      --gtest_filter='StreamGemm.MatchesReference' > "$OUT/sanitizer-$tool.log" 2>&1
  done
fi
# Through the engine (scheduler, paged KV manager, runner, ids drawn on the GPU): 128 requests of
# 512 prompt tokens and 128 output tokens all at once, greedy and sampled, then one request alone,
# on a random Llama-3.2-1B-shaped checkpoint.
model=${GPU_CHECK_MODEL:-/tmp/osprey-llama-3.2-1b}
if [[ ! -f $model/config.json ]]; then
  timeout 90 .gpu-bin/osprey random-model --preset llama-3.2-1b --dtype bf16 \
    --output $model > "$OUT/random-model.log" 2>&1
fi
engine_rc=0
# Experiments against the default, by the kind's suffix: "-cublas" leaves Osprey's streaming GEMM
# out of the tuning (cuBLAS alone); "-l2pf" prefetches 24 MiB of each layer's o and gate/up
# weights into L2 during batch-1 attention.
runs=("128 greedy --num-prompts 128" "128 greedy-cublas --num-prompts 128"
  "128 sampled --num-prompts 128 --temperature 0.8 --top-p 0.95"
  "1 greedy --num-prompts 1" "1 greedy-l2pf --num-prompts 1"
  "128 greedy-2k-step --num-prompts 128 --max-num-batched-tokens 2048")
for run in "${runs[@]}"; do
  read -r n kind args <<< "$run"
  stream=1 l2pf=0
  [[ $kind == *-cublas ]] && stream=0
  [[ $kind == *-l2pf ]] && l2pf=24
  OSPREY_CUDA_STREAM_GEMM=$stream OSPREY_CUDA_L2_PREFETCH_MIB=$l2pf timeout 90 .gpu-bin/osprey bench offline --model $model --device cuda $args --input-len 512 \
    --output-len 128 --max-num-seqs 128 --json > "$OUT/engine-$n-$kind.json" \
    2> "$OUT/engine-$n-$kind.log" || engine_rc=$?
done
# Through the server: osprey serve --device cuda, 128 streaming clients (512 in / 128 out).
serve_rc=skipped
if [[ -z "${GPU_CHECK_QUICK:-}" ]]; then
  .gpu-bin/osprey serve -m $model --device cuda --port 8123 --served-model-name m \
    --max-num-seqs 128 > "$OUT/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 120); do  # up to a minute to load
    (exec 3<>/dev/tcp/127.0.0.1/8123) 2>/dev/null && break
    sleep 0.5
  done
  timeout 90 .gpu-bin/osprey bench serve --base-url http://127.0.0.1:8123 --model m \
    --num-prompts 256 --input-len 512 --output-len 128 --vocab-size 128000 --ignore-eos \
    --max-concurrency 128 --no-progress --output "$OUT/serve.json" > "$OUT/bench-serve.log" 2>&1
  serve_rc=$?
  kill "$serve_pid" 2>/dev/null
  wait "$serve_pid" 2>/dev/null
fi
# The model alone (no engine), per-kernel breakdown; skipped with GPU_CHECK_QUICK=1.
bench_rc=skipped
if [[ -z "${GPU_CHECK_QUICK:-}" ]]; then
  timeout 150 .gpu-bin/osprey_cuda_bench --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
  bench_rc=${PIPESTATUS[0]}
fi
# Optional (GPU_CHECK_PROFILE=1): per-kernel GPU time of the 128-request engine run under nsys.
if [[ -n "${GPU_CHECK_PROFILE:-}" ]] && command -v nsys > /dev/null; then
  timeout 150 nsys profile --cuda-graph-trace=node -o "$OUT/engine128" --force-overwrite true \
    .gpu-bin/osprey bench offline --model $model --device cuda --num-prompts 128 --input-len 512 \
    --output-len 128 --max-num-seqs 128 --max-num-batched-tokens 8192 > "$OUT/nsys.log" 2>&1
  timeout 60 nsys stats --report cuda_gpu_kern_sum --format csv "$OUT/engine128.nsys-rep" \
    > "$OUT/kernels.csv" 2>> "$OUT/nsys.log"
  rm -f "$OUT"/engine128.nsys-rep "$OUT"/engine128.sqlite
fi
echo
echo "== summary ($(date -u +%F), $(head -2 "$OUT/nvidia-smi.txt" | tail -1 | cut -d, -f1)) =="
grep -E "PASSED|FAILED|SKIPPED|tests ran" "$OUT/test_cuda.log" | tail -30
echo "seeded draws, 5 repeats: $(grep -c FAILED "$OUT/test_repeat.log") failures"
echo "test_cuda rc=$test_rc bench rc=$bench_rc engine rc=$engine_rc serve rc=$serve_rc"
for f in "$OUT"/sanitizer-*.log; do
  [[ -f $f ]] && echo "$(basename "$f" .log): $(grep -hE "ERROR SUMMARY|RACECHECK SUMMARY" "$f" | tail -1)"
done
grep -E "breakdown|tuned" "$OUT/bench.log" 2>/dev/null
sed -n '/^run (prompt/,$p' "$OUT/bench.log" 2>/dev/null
for run in "${runs[@]}"; do
  read -r n kind args <<< "$run"
  echo "engine, $n requests, $kind (512 in / 128 out):"
  grep -E '"(output_throughput|decode_throughput|duration_s|preemptions|kv_blocks|runner_ms_per_step|host_ms_per_step)"' \
    "$OUT/engine-$n-$kind.json"
  grep -h "GEMM algorithms" "$OUT/engine-$n-$kind.log"
  tail -2 "$OUT/engine-$n-$kind.log"
done
if [[ -s "$OUT/kernels.csv" ]]; then
  echo "nsys, engine 128 requests (8192-token steps): time %, total ns, instances, kernel"
  grep -v '^ *$' "$OUT/kernels.csv" | tail -n +2 | head -25 | awk -F'","' '{gsub(/"/, ""); print $1", "$2", "$3", "substr($9, 1, 90)}'
fi
if [[ -f "$OUT/bench-serve.log" ]]; then
  echo "serve, 128 clients (512 in / 128 out):"
  grep -iE "output token throughput|ttft|tpot|failed" "$OUT/bench-serve.log" | head -12
fi
