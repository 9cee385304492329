// CudaModel's forward pass: batch validation, the per-forward metadata (one host-to-device copy),
// the layer loop, and decode graphs. Batch-1 bf16 decode takes the fused GEMV path (norm folded
// into the projections, SwiGLU into gate/up, residual adds into o/down); larger batches use cuBLAS
// with the residual add folded into the GEMM (beta = 1 on the f32 residual stream).
#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_model_impl.h"
#include "backend/cuda/gemm.h"
#include "core/error.h"

namespace osprey::cuda {

int64_t CudaBatch::num_logit_rows() const {
  int64_t n = 0;
  for (const auto& s : seqs) n += s.all_logits ? s.num_tokens : 1;
  return n;
}

namespace {

// Decode graphs exist for powers of two (and max_seqs); a batch runs in the smallest that holds it.
int bucket_for(int S, int max_seqs) {
  int b = 1;
  while (b < S) b <<= 1;
  return std::min(b, max_seqs);
}

}  // namespace

void CudaModel::Impl::body(const MetaLayout& L, bool decode, int splits) {
  const auto& c = config;
  const int T = L.T, R = L.R;
  const int32_t* tokens = meta + L.tokens();
  const int32_t* positions = meta + L.positions();
  const int32_t* slots = meta + L.slots();
  const int32_t* seq_lens = meta + L.seq_lens();
  const int32_t* rows = meta + L.logit_rows();
  const int32_t* tables = meta + L.block_tables();
  const auto* items = reinterpret_cast<const PrefillItem*>(meta + L.items());
  const float eps = static_cast<float>(c.rms_norm_eps);
  const bool gemv_path = T == 1 && gemv_batch1();
  const int iH = static_cast<int>(H), iQ = static_cast<int>(Q), iF = static_cast<int>(F);
  const int iQKV = static_cast<int>(Q + 2 * KV);

  cuda::embed(tokens, T, embed, H, x, bf16, stream);
  // The RoPE angles for qkv_post (the batch-1 GEMV computes its own).
  if (!gemv_path || c.qk_norm) rope_table(positions, T, inv_freq, c.head_dim / 2, rope_cs, stream);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& W = layers[l];
    const AttnShape shape{c.num_heads, c.num_kv_heads, c.head_dim,
                          1.0f / std::sqrt(float(c.head_dim)), c.layer_window[l]};
    const PagedKV kv{kv_layer(l, false), kv_layer(l, true), tables, max_blocks, 1};
    if (gemv_path && !W.q_norm) {  // RoPE and the cache writes in the GEMV's epilogue
      GemvArgs a{x, W.attn_norm, eps, W.wqkv, W.bqkv, iQKV, iH, false, nullptr, GemvOut::kRope};
      a.rope = {inv_freq, positions, slots, c.num_heads, c.num_kv_heads, c.head_dim, q, kv.k, kv.v};
      gemv(a, stream);
    } else {
      if (gemv_path) {
        gemv({x, W.attn_norm, eps, W.wqkv, nullptr, iQKV, iH, false, qkv, GemvOut::kBf16}, stream);
      } else {
        rms_norm(x, nullptr, T, H, W.attn_norm, eps, h, bf16, stream);
        (*gemm)(h, T, iH, W.wqkv, iQKV, qkv, bf16, false, false);
      }
      qkv_post(qkv, W.bqkv, W.q_norm, W.k_norm, eps, rope_cs, slots, T, shape, q, kv.k, kv.v, bf16,
               stream);
    }
    // The o and gate/up weights are contiguous: the first bytes of both come into L2 while
    // batch-1 attention, bound by latency, leaves HBM idle.
    if (gemv_path && l2_prefetch_bytes > 0) l2_prefetch(W.wo, l2_prefetch_bytes, stream);
    if (decode)
      attn_decode(q, kv, seq_lens, L.S, shape, splits, decode_partition(L.S),
                  {part_acc, part_ml, decode_counters_dev}, att, bf16, stream);
    else
      attn_prefill(q, kv, items, L.I, shape, att, bf16, stream);
    if (gemv_path) {
      gemv({att, nullptr, 0.0f, W.wo, W.bo, iH, iQ, false, x, GemvOut::kF32Accumulate}, stream);
      gemv({x, W.ffn_norm, eps, W.wgu, W.bgu, 2 * iF, iH, true, act, GemvOut::kBf16}, stream);
      gemv({act, nullptr, 0.0f, W.wdown, W.bdown, iH, iF, false, x, GemvOut::kF32Accumulate},
           stream);
    } else {
      (*gemm)(att, T, iQ, W.wo, iH, x, bf16, true, true);
      if (W.bo) add_bias(x, W.bo, T, H, stream);
      rms_norm(x, nullptr, T, H, W.ffn_norm, eps, h, bf16, stream);
      if (W.bgu || !gemm->swiglu(h, T, iH, W.wgu, 2 * iF, act)) {
        (*gemm)(h, T, iH, W.wgu, 2 * iF, gu, bf16, false, false);
        silu_mul(gu, W.bgu, T, F, act, bf16, stream);
      }
      (*gemm)(act, T, iF, W.wdown, iH, x, bf16, true, true);
      if (W.bdown) add_bias(x, W.bdown, T, H, stream);
    }
  }
  if (gemv_path) {
    gemv({x, final_norm, eps, lm_head, nullptr, static_cast<int>(V), iH, false, logits,
          GemvOut::kF32},
         stream);
  } else {
    rms_norm(x, rows, R, H, final_norm, eps, h, bf16, stream);
    (*gemm)(h, R, iH, lm_head, static_cast<int>(V), logits, bf16, true, false);
  }
  argmax_rows(logits, R, V, ids, stream);
}

void CudaModel::Impl::run(const CudaBatch& batch, bool /*want_ids*/) {
  const int S = static_cast<int>(batch.seqs.size());
  const int T = static_cast<int>(batch.tokens.size());
  if (S == 0) invalid_input("CUDA forward: empty batch");
  if (S > opts.max_seqs) invalid_input("CUDA forward: {} sequences, at most {}", S, opts.max_seqs);
  if (T > opts.max_batch_tokens)
    invalid_input("CUDA forward: {} tokens, at most {}", T, opts.max_batch_tokens);
  const int R = static_cast<int>(batch.num_logit_rows());
  if (R > max_rows) invalid_input("CUDA forward: {} logit rows, at most {}", R, max_rows);
  bool decode = true;
  int64_t total = 0;
  for (const auto& s : batch.seqs) {
    if (s.num_tokens <= 0 || s.start_pos < 0)
      invalid_input("CUDA forward: empty or negative sequence");
    const int64_t end = s.start_pos + s.num_tokens;
    if (end > opts.max_seq_len)
      invalid_input("CUDA forward: {} positions, at most {}", end, opts.max_seq_len);
    const int64_t need = (end + kBlockSize - 1) / kBlockSize;
    if (static_cast<int64_t>(s.block_table.size()) < need)
      invalid_input("CUDA forward: block table of {} blocks for {} positions", s.block_table.size(),
                    end);
    for (int64_t b = 0; b < need; ++b)
      if (s.block_table[b] < 1 || s.block_table[b] >= num_blocks)
        invalid_input("CUDA forward: block id {} outside 1..{}", s.block_table[b], num_blocks - 1);
    decode = decode && s.num_tokens == 1;
    total += s.num_tokens;
  }
  if (total != T)
    invalid_input("CUDA forward: batch has {} tokens but its sequences cover {}", T, total);
  for (int32_t t : batch.tokens)
    if (t < 0 || t >= V)
      invalid_input("CUDA forward: token id {} outside the vocabulary ({})", t, V);

  const bool use_graph = decode && opts.cuda_graphs;
  const int B = use_graph ? bucket_for(S, opts.max_seqs) : S;
  const int per_item =
      prefill_item_tokens({config.num_heads, config.num_kv_heads, config.head_dim, 1.0f, 0});
  int I = 0;
  if (!decode)
    for (const auto& s : batch.seqs)
      I += static_cast<int>((s.num_tokens + per_item - 1) / per_item);
  MetaLayout L = decode ? MetaLayout{B, B, B, 0, max_blocks} : MetaLayout{T, S, R, I, max_blocks};
  for (const auto& s : batch.seqs)
    L.used_blocks =
        std::max(L.used_blocks,
                 static_cast<int>((s.start_pos + s.num_tokens + kBlockSize - 1) / kBlockSize));

  int32_t* m = meta_host;
  int t = 0, r = 0, item = 0;
  for (int i = 0; i < L.S; ++i)  // unused entries point at the scratch block
    std::fill_n(m + L.block_tables() + size_t(i) * max_blocks, L.used_blocks, 0);
  for (int i = 0; i < S; ++i) {
    const CudaSeq& s = batch.seqs[i];
    const int n = static_cast<int>(s.num_tokens), p0 = static_cast<int>(s.start_pos);
    std::copy_n(s.block_table.data(), (p0 + n + kBlockSize - 1) / kBlockSize,
                m + L.block_tables() + size_t(i) * max_blocks);
    for (int k = 0; k < n; ++k) {
      const int pos = p0 + k;
      m[L.tokens() + t + k] = batch.tokens[t + k];
      m[L.positions() + t + k] = pos;
      m[L.slots() + t + k] = s.block_table[pos / kBlockSize] * kBlockSize + pos % kBlockSize;
      if (s.all_logits || k == n - 1) m[L.logit_rows() + r++] = t + k;
    }
    m[L.seq_lens() + i] = p0 + n;
    for (int k = 0; !decode && k < n; k += per_item) {
      int32_t* it = m + L.items() + 4 * size_t(item++);
      it[0] = i, it[1] = t + k, it[2] = std::min(per_item, n - k), it[3] = p0 + k;
    }
    t += n;
  }
  pad_decode_rows(L, S, B);
  upload_meta(L);
  if (use_graph) {
    run_decode_graph(L, B);
  } else {
    body(L, decode, decode_splits(B, attn_shape()));
  }
}

void CudaModel::Impl::upload_meta(const MetaLayout& L) {
  OSPREY_CUDA_CHECK(cudaMemcpyAsync(meta, meta_host, L.block_tables() * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream));
  if (L.used_blocks > 0)
    OSPREY_CUDA_CHECK(cudaMemcpy2DAsync(
        meta + L.block_tables(), size_t(L.max_blocks) * sizeof(int32_t),
        meta_host + L.block_tables(), size_t(L.max_blocks) * sizeof(int32_t),
        size_t(L.used_blocks) * sizeof(int32_t), L.S, cudaMemcpyHostToDevice, stream));
}

void CudaModel::Impl::pad_decode_rows(const MetaLayout& L, int from, int B) {
  int32_t* m = meta_host;
  for (int i = from; i < B; ++i) {
    m[L.tokens() + i] = 0;
    m[L.positions() + i] = 0;
    m[L.slots() + i] = i % kBlockSize;
    m[L.seq_lens() + i] = 1;
    m[L.logit_rows() + i] = i;
  }
}

void CudaModel::Impl::run_decode_graph(const MetaLayout& L, int B) {
  auto it = graphs.find(B);
  if (it != graphs.end()) {
    OSPREY_CUDA_CHECK(cudaGraphLaunch(it->second, stream));
    return;
  }
  // Graphs cover any context up to max_seq_len: each CTA loops over as many partitions as the
  // context has.
  const int splits = decode_splits(B, attn_shape());
  // First step of this size: run it directly (kernel attributes, cuBLAS heuristics), then capture.
  body(L, true, splits);
  cudaGraph_t graph = nullptr;
  OSPREY_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    body(L, true, splits);
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  OSPREY_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  OSPREY_CUDA_CHECK(e);
  graphs[B] = exec;
}

CudaModel::GemmTuning CudaModel::tune_gemms() {
  Impl& m = *impl_;
  GemmTuning out;
  if (!m.bf16 || m.layers.empty()) return out;  // the strict f32 mode keeps plain cuBLAS
  const int64_t Tm = m.opts.max_batch_tokens;
  // Inputs of the right scale: the tuned results are compared bit for bit, not for accuracy.
  fill_random(m.h, Tm * m.H, true, 1, 1.0f, 0.0f, m.stream);
  fill_random(m.att, Tm * m.Q, true, 2, 1.0f, 0.0f, m.stream);
  fill_random(m.act, Tm * m.F, true, 3, 1.0f, 0.0f, m.stream);
  // Each shape cycles through every layer's matrix, as a decode step does.
  std::vector<const void*> wqkv, wo, wgu, wdown;
  for (const LayerWeights& W : m.layers) {
    wqkv.push_back(W.wqkv), wo.push_back(W.wo), wgu.push_back(W.wgu), wdown.push_back(W.wdown);
  }
  const void* const head[] = {m.lm_head};
  const int iH = int(m.H), iQ = int(m.Q), iF = int(m.F), iQKV = int(m.Q + 2 * m.KV);
  const int L = m.config.num_layers;
  auto tune_layer = [&](int M, bool with_head) {
    double d = 0, t = 0;
    // The (gate, up) projection's output goes to silu_mul unless the MLP has biases.
    const bool swiglu = !m.config.mlp_bias;
    for (const auto& [x, K, w, N, y, f32, sw] :
         {std::tuple{m.h, iH, &wqkv, iQKV, m.qkv, false, false},
          std::tuple{m.att, iQ, &wo, iH, static_cast<void*>(m.x), true, false},
          std::tuple{m.h, iH, &wgu, 2 * iF, m.gu, false, swiglu},
          std::tuple{m.act, iF, &wdown, iH, static_cast<void*>(m.x), true, false}}) {
      const Gemm::Timing r = m.gemm->tune(x, M, K, *w, N, y, f32, sw);
      d += L * r.default_ms, t += L * r.chosen_ms;
    }
    if (with_head) {
      const Gemm::Timing r = m.gemm->tune(m.h, M, iH, head, int(m.V), m.logits, true);
      d += r.default_ms, t += r.chosen_ms;
    }
    return std::pair{d, t};
  };
  for (int b = 1;; b *= 2) {
    const int B = std::min(b, m.opts.max_seqs);
    if (B > 1 || !m.gemv_batch1())
      std::tie(out.decode_default_ms, out.decode_tuned_ms) = tune_layer(B, true);
    if (B == m.opts.max_seqs) break;
  }
  if (Tm > m.opts.max_seqs) tune_layer(int(Tm), false);
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  out.shapes = m.gemm->tuned_shapes();
  out.stream_shapes = m.gemm->stream_shapes();
  return out;
}

void CudaModel::capture_decode_graphs() {
  Impl& m = *impl_;
  if (!m.opts.cuda_graphs) return;
  for (int b = 1;; b *= 2) {
    const int B = std::min(b, m.opts.max_seqs);
    if (!m.graphs.count(B)) {
      const MetaLayout L{B, B, B, 0, m.max_blocks, 1};
      for (int i = 0; i < B; ++i) m.meta_host[L.block_tables() + size_t(i) * m.max_blocks] = 0;
      m.pad_decode_rows(L, 0, B);  // every row on the scratch block
      m.upload_meta(L);
      m.run_decode_graph(L, B);
    }
    if (B == m.opts.max_seqs) break;
  }
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

void CudaModel::forward(const CudaBatch& batch, float* logits) {
  impl_->run(batch, false);
  const size_t n = size_t(batch.num_logit_rows()) * impl_->V;
  OSPREY_CUDA_CHECK(
      cudaMemcpyAsync(logits, impl_->logits, n * 4, cudaMemcpyDeviceToHost, impl_->stream));
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaModel::greedy_step(const CudaBatch& batch, int32_t* ids) {
  impl_->run(batch, true);
  const size_t n = size_t(batch.num_logit_rows());
  OSPREY_CUDA_CHECK(cudaMemcpyAsync(ids, impl_->ids, n * 4, cudaMemcpyDeviceToHost, impl_->stream));
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

void CudaModel::sample_step(const CudaBatch& batch, std::span<const SampleParams> rows,
                            std::span<const LogitEdit> edits, int32_t* ids, LogprobOut* logprobs) {
  Impl& m = *impl_;
  const int64_t R = batch.num_logit_rows();
  if (static_cast<int64_t>(rows.size()) != R)
    invalid_input("CUDA sample_step: {} sampling rows for {} logit rows", rows.size(), R);
  bool want_logprobs = false;
  for (const SampleParams& p : rows) {
    if (!(p.u >= 0.0 && p.u < 1.0) || !(p.top_p > 0.0f && p.top_p <= 1.0f) ||
        !(p.min_p >= 0.0f && p.min_p <= 1.0f) || !std::isfinite(p.temperature) ||
        p.edit_begin < 0 || p.edit_count < 0 ||
        size_t(p.edit_begin) + size_t(p.edit_count) > edits.size() || p.logprobs > kMaxTopLogprobs)
      invalid_input("CUDA sample_step: sampling parameters out of range");
    want_logprobs = want_logprobs || p.logprobs >= 0;
  }
  if (want_logprobs && !logprobs)
    invalid_input("CUDA sample_step: logprobs asked for and nowhere to put them");
  if (edits.size() > m.edits_capacity) {
    const size_t cap = std::max(edits.size(), 2 * m.edits_capacity);
    OSPREY_CUDA_CHECK(cudaStreamSynchronize(m.stream));  // the old buffers may be in use
    cudaFree(m.edits_dev);
    cudaFree(m.edits_raw);
    cudaFreeHost(m.edits_host);
    m.edits_dev = nullptr, m.edits_raw = nullptr, m.edits_host = nullptr, m.edits_capacity = 0;
    OSPREY_CUDA_CHECK(cudaMalloc(&m.edits_dev, cap * sizeof(LogitEdit)));
    OSPREY_CUDA_CHECK(cudaMalloc(&m.edits_raw, cap * sizeof(float)));
    OSPREY_CUDA_CHECK(cudaMallocHost(&m.edits_host, cap * sizeof(LogitEdit)));
    m.edits_capacity = cap;
  }
  const int iR = static_cast<int>(R);
  m.run(batch, true);  // the argmax of every row: greedy rows without edits keep it
  std::copy(rows.begin(), rows.end(), m.sample_host);
  OSPREY_CUDA_CHECK(cudaMemcpyAsync(m.sample_dev, m.sample_host, R * sizeof(SampleParams),
                                    cudaMemcpyHostToDevice, m.stream));
  if (want_logprobs) logprob_stats(m.logits, iR, m.V, m.sample_dev, m.logprobs_dev, m.stream);
  if (!edits.empty()) {
    std::copy(edits.begin(), edits.end(), m.edits_host);
    OSPREY_CUDA_CHECK(cudaMemcpyAsync(m.edits_dev, m.edits_host, edits.size() * sizeof(LogitEdit),
                                      cudaMemcpyHostToDevice, m.stream));
    apply_logit_edits(m.logits, iR, m.V, m.sample_dev, m.edits_dev, m.edits_raw, m.stream);
    argmax_rows(m.logits, iR, m.V, m.ids, m.stream);
  }
  sample_rows(m.logits, iR, m.V, m.sample_dev, m.ids, m.stream);
  OSPREY_CUDA_CHECK(
      cudaMemcpyAsync(ids, m.ids, size_t(R) * sizeof(int32_t), cudaMemcpyDeviceToHost, m.stream));
  if (want_logprobs) {
    chosen_logits(m.logits, iR, m.V, m.sample_dev, m.edits_dev, m.edits_raw, m.ids, m.logprobs_dev,
                  m.stream);
    OSPREY_CUDA_CHECK(cudaMemcpyAsync(m.logprobs_host, m.logprobs_dev, R * sizeof(LogprobOut),
                                      cudaMemcpyDeviceToHost, m.stream));
  }
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  if (want_logprobs) std::copy_n(m.logprobs_host, R, logprobs);
}

void CudaModel::copy_block(int64_t src, int64_t dst) {
  Impl& m = *impl_;
  if (src < 1 || src >= m.num_blocks || dst < 1 || dst >= m.num_blocks)
    invalid_input("CUDA copy_block: block ids {} -> {} outside 1..{}", src, dst, m.num_blocks - 1);
  const size_t bytes = size_t(kBlockSize) * m.KV * m.esz;
  for (int l = 0; l < m.config.num_layers; ++l) {
    for (bool v : {false, true}) {
      char* base = static_cast<char*>(m.kv_layer(l, v));
      OSPREY_CUDA_CHECK(cudaMemcpyAsync(base + dst * bytes, base + src * bytes, bytes,
                                        cudaMemcpyDeviceToDevice, m.stream));
    }
  }
}

}  // namespace osprey::cuda
