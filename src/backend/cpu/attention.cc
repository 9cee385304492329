#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/attention_row.h"
#include "backend/cpu/kernels.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace osprey::cpu {

void kv_store(void* const* k_blocks, void* const* v_blocks, int block_size, int64_t start_pos,
              int64_t n, const AttentionShape& s, const float* k, const float* v) {
  OSPREY_CHECK(s.kv_dtype == DType::F32 || s.kv_dtype == DType::F16 || s.kv_dtype == DType::BF16,
               "KV cache of {} elements", dtype_name(s.kv_dtype));
  const int64_t hd = s.head_dim, kv_dim = int64_t{s.num_kv_heads} * hd;
  auto put = [&](void* block, int64_t at, const float* x) {
    if (s.kv_dtype == DType::F32) {
      std::memcpy(static_cast<float*>(block) + at, x, hd * sizeof(float));
    } else {
      to_half(s.kv_dtype, x, static_cast<uint16_t*>(block) + at, hd);
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = start_pos + i;
    const int64_t b = pos / block_size, off = pos % block_size;
    for (int h = 0; h < s.num_kv_heads; ++h) {
      const int64_t at = (int64_t{h} * block_size + off) * hd;
      put(k_blocks[b], at, k + i * kv_dim + h * hd);
      put(v_blocks[b], at, v + i * kv_dim + h * hd);
    }
  }
}

namespace {

// Element j's key or value as f32: in place, or converted into `tmp`.
const float* as_f32(const detail::AttentionRow& row, const void* p, std::vector<float>& tmp) {
  if (row.kv_dtype == DType::F32) return static_cast<const float*>(p);
  tmp.resize(row.head_dim);
  convert_to_f32(row.kv_dtype, p, tmp.data(), row.head_dim);
  return tmp.data();
}

// The portable row: scores, max, exponentials, normalized sum of values.
void attention_row(const detail::AttentionRow& row, std::vector<float>& scores, float* out) {
  thread_local std::vector<float> tmp;
  scores.resize(row.n);
  float mx = -INFINITY;
  for (int64_t j = 0; j < row.n; ++j) {
    scores[j] = dot_f32(row.q, as_f32(row, row.key(j), tmp), row.head_dim) * row.scale;
    mx = std::max(mx, scores[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < row.n; ++j) {
    scores[j] = std::exp(scores[j] - mx);
    sum += scores[j];
  }
  std::fill(out, out + row.head_dim, 0.0f);
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < row.n; ++j) {
    axpy(scores[j] * inv, as_f32(row, row.value(j), tmp), out, row.head_dim);
  }
}

}  // namespace

void attention(std::span<const AttentionSeq> seqs, int block_size, const AttentionShape& s) {
  const int64_t q_dim = static_cast<int64_t>(s.num_heads) * s.head_dim;
  const int group = s.num_heads / s.num_kv_heads;
  // The AVX2 kernel reads 16-bit caches eight dimensions at a time, the AVX-512 one every cache
  // sixteen at a time.
  const Isa isa = active_isa();
  const bool avx2 =
      isa != Isa::kScalar && s.head_dim <= 512 && (s.kv_dtype == DType::F32 || s.head_dim % 8 == 0);
  auto kernel = avx2 ? detail::attention_heads_avx2 : nullptr;
#ifdef OSPREY_HAVE_AVX512
  if (s.head_dim <= 512 && s.head_dim % 16 == 0) {
    if (isa == Isa::kAvx512) kernel = detail::avx512::attention_heads;
    if (isa == Isa::kAvx512Emulated) kernel = detail::avx512_emulated::attention_heads;
  }
#endif
  int64_t rows = 0;
  for (const AttentionSeq& seq : seqs) rows += seq.q_len;
  // A task is a token's query heads that share one KV head (the AVX2 kernel reads each key and
  // value once for all of them), or a part of them where that leaves threads idle (a decode step
  // of few sequences and KV heads): each head's result is the same either way.
  int per_task = kernel ? group : 1;
  const int64_t want = 4 * ThreadPool::global().size();
  while (per_task > 1 && rows * s.num_heads / per_task < want) per_task = (per_task + 1) / 2;
  const int parts = (group + per_task - 1) / per_task;
  const int64_t per_token = int64_t{s.num_kv_heads} * parts;
  // Tasks of all sequences in one job: sequence after sequence, each one's last tokens first (they
  // see the most keys, and the pool's threads take chunks in order, so the heavy work starts
  // first).
  std::vector<int64_t> seq_end(seqs.size());
  for (size_t q = 0, total = 0; q < seqs.size(); ++q)
    seq_end[q] = total += seqs[q].q_len * per_token;
  ThreadPool::global().parallel_for(rows * per_token, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> scores;
    size_t sq = std::upper_bound(seq_end.begin(), seq_end.end(), t0) - seq_end.begin();
    for (int64_t t = t0; t < t1; ++t) {
      while (t >= seq_end[sq]) ++sq;
      const AttentionSeq& seq = seqs[sq];
      const int64_t local = t - (seq_end[sq] - seq.q_len * per_token);
      const int64_t i = seq.q_len - 1 - local / per_token;
      const int g = static_cast<int>(local / parts % s.num_kv_heads);
      const int h0 = static_cast<int>(local % parts) * per_task;
      const int heads = std::min(per_task, group - h0);
      const int64_t pos = seq.start_pos + i;
      const int64_t first =
          s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
      const int64_t head = static_cast<int64_t>(g) * group + h0;
      detail::AttentionRow row{seq.q + i * q_dim + head * s.head_dim,
                               first,
                               pos - first + 1,
                               seq.k_blocks,
                               seq.v_blocks,
                               block_size,
                               static_cast<int64_t>(g) * block_size * s.head_dim,
                               s.head_dim,
                               s.scale,
                               s.kv_dtype};
      float* o = seq.out + i * q_dim + head * s.head_dim;
      if (kernel) {
        scores.resize(heads * ((row.n + 15) / 16 * 16));
        kernel(row, heads, scores.data(), o);
        continue;
      }
      for (int h = 0; h < heads; ++h, row.q += s.head_dim) {
        attention_row(row, scores, o + h * s.head_dim);
      }
    }
  });
}

void attention(const float* q, int64_t q_len, int64_t start_pos, const void* const* k_blocks,
               const void* const* v_blocks, int block_size, const AttentionShape& s, float* out) {
  const AttentionSeq seq{q, q_len, start_pos, k_blocks, v_blocks, out};
  attention(std::span<const AttentionSeq>(&seq, 1), block_size, s);
}

}  // namespace osprey::cpu
