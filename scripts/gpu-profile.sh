#!/usr/bin/env bash
# Per-kernel GPU time (ncu) of one 8192-token prefill forward and one batch-128 decode step of a random
# Llama-3.2-1B. Device side, after `scripts/gpu-check.sh --stage`: OUT=$OUT scripts/gpu-profile.sh
export LD_LIBRARY_PATH="$PWD/.gpu-bin/lib:${LD_LIBRARY_PATH:-}"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -e "$d/libcublas.so.13" ]] && export LD_LIBRARY_PATH="$d:$LD_LIBRARY_PATH" && break
done
for what in decode prefill; do
  timeout 200 ncu --profile-from-start off --metrics gpu__time_duration.sum --csv \
    .gpu-bin/osprey_cuda_bench --profile $what > "$OUT/ncu-$what.csv" 2> "$OUT/ncu-$what.err"
  echo "== $what: rc=$? $(grep -c gpu__time_duration "$OUT/ncu-$what.csv") kernels"
  python3 - "$OUT/ncu-$what.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; ki = hdr.index("Kernel Name"); vi = hdr.index("Metric Value"); ui = hdr.index("Metric Unit")
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows[1:]:
    v = float(r[vi].replace(",", "")); v *= {"nsecond": 1e-3, "usecond": 1, "msecond": 1e3}.get(r[ui], 1)
    name = r[ki][:70]; tot[name] += v; cnt[name] += 1
T = sum(tot.values())
print(f"total {T:.1f} us over {sum(cnt.values())} kernels")
for n, v in sorted(tot.items(), key=lambda x: -x[1])[:22]:
    print(f"{v:9.1f} us {100*v/T:5.1f}% x{cnt[n]:4d}  {n}")
PY
done
