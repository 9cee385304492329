// osprey_cuda_bench: decode throughput of CudaModel on random bf16 weights generated on the GPU.
// Llama-3.2-1B shape at batch 1 (against the HBM roofline: weight bytes per token over the copy
// bandwidth measured here) and at 128 concurrent sequences, TinyLlama-1.1B shape at batch 1; each
// with a 512-token prompt and 128 generated tokens. Prints one table; --json FILE writes the
// numbers.
#include <cublas_v2.h>
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_model.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernels.h"
#include "model/random_model.h"

using namespace osprey;
using namespace osprey::cuda;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Device-to-device copy bandwidth, bytes read plus written per second.
double copy_bandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *a = nullptr, *b = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&a, bytes));
  OSPREY_CUDA_CHECK(cudaMalloc(&b, bytes));
  OSPREY_CUDA_CHECK(cudaMemset(a, 1, bytes));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  OSPREY_CUDA_CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  const int reps = 10;
  cudaEventRecord(e0);
  for (int i = 0; i < reps; ++i)
    OSPREY_CUDA_CHECK(
        cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
  cudaEventRecord(e1);
  OSPREY_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaFree(a), cudaFree(b);
  return 2.0 * bytes * reps / (ms / 1e3);
}

// Mean time of `fn`'s work on `st` over `reps` runs after one warm-up run, by events.
template <typename Fn>
double time_ms(cudaStream_t st, Fn&& fn, int reps = 10) {
  fn();
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  cudaEventRecord(e0, st);
  for (int i = 0; i < reps; ++i) fn();
  cudaEventRecord(e1, st);
  OSPREY_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  return ms / reps;
}

// Where a batch-1 Llama-3.2-1B decode step goes: the GEMVs alone (16 layers of distinct weights,
// then the LM head) and the decode attention alone (16 layers at a 600-token context), timed with
// events.
void batch1_breakdown(nlohmann::json& j) {
  const ModelConfig c = model_preset("llama-3.2-1b");
  const int H = 2048, F = 8192, Q = 2048, KV = 512, V = 128256, L = 16;
  const size_t layer = size_t(Q + 2 * KV) * H + size_t(H) * Q + 2 * size_t(F) * H + size_t(H) * F;
  void *w = nullptr, *lm = nullptr, *x16 = nullptr, *y16 = nullptr;
  float *x = nullptr, *nw = nullptr, *logits = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&w, layer * L * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&lm, size_t(V) * H * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&x16, F * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&y16, 2 * F * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&x, H * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&nw, H * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&logits, V * 4));
  fill_random(w, int64_t(layer) * L, true, 1, 0.03f, 0, nullptr);
  fill_random(lm, int64_t(V) * H, true, 2, 0.03f, 0, nullptr);
  fill_random(x16, F, true, 3, 1, 0, nullptr);
  fill_random(x, H, false, 4, 1, 0, nullptr);
  fill_random(nw, H, false, 5, 0.1f, 1, nullptr);
  cudaStream_t st;
  OSPREY_CUDA_CHECK(cudaStreamCreate(&st));
  auto gemvs = [&] {
    for (int l = 0; l < L; ++l) {
      char* b = static_cast<char*>(w) + layer * l * 2;
      gemv({x, nw, 1e-5f, b, nullptr, Q + 2 * KV, H, false, y16, GemvOut::kBf16}, st);
      b += size_t(Q + 2 * KV) * H * 2;
      gemv({x16, nullptr, 0, b, nullptr, H, Q, false, x, GemvOut::kF32Accumulate}, st);
      b += size_t(H) * Q * 2;
      gemv({x, nw, 1e-5f, b, nullptr, 2 * F, H, true, y16, GemvOut::kBf16}, st);
      b += 2 * size_t(F) * H * 2;
      gemv({x16, nullptr, 0, b, nullptr, H, F, false, x, GemvOut::kF32Accumulate}, st);
    }
    gemv({x, nw, 1e-5f, lm, nullptr, V, H, false, logits, GemvOut::kF32}, st);
  };
  // Attention: one sequence, 600 positions in blocks 1..38, 8 kv heads of 64.
  const int ctx = 600, blocks = 40, splits = decode_splits(1, {32, 8, 64, 0.125f, 0});
  void *kc = nullptr, *vc = nullptr, *q = nullptr, *out = nullptr;
  int32_t *bt = nullptr, *lens = nullptr;
  float *pacc = nullptr, *pml = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&kc, size_t(blocks) * 16 * KV * 2 * L));
  OSPREY_CUDA_CHECK(cudaMalloc(&vc, size_t(blocks) * 16 * KV * 2 * L));
  OSPREY_CUDA_CHECK(cudaMalloc(&q, Q * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&out, Q * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&bt, 64 * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&lens, 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&pacc, 32 * splits * 64 * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&pml, 32 * splits * 2 * 4));
  int* ctr = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&ctr, 64 * sizeof(int)));
  OSPREY_CUDA_CHECK(cudaMemset(ctr, 0, 64 * sizeof(int)));
  std::vector<int32_t> table(64);
  for (int i = 0; i < 64; ++i) table[i] = 1 + i % (blocks - 1);
  OSPREY_CUDA_CHECK(cudaMemcpy(bt, table.data(), 64 * 4, cudaMemcpyHostToDevice));
  OSPREY_CUDA_CHECK(cudaMemcpy(lens, &ctx, 4, cudaMemcpyHostToDevice));
  fill_random(kc, int64_t(blocks) * 16 * KV * L, true, 6, 1, 0, nullptr);
  fill_random(vc, int64_t(blocks) * 16 * KV * L, true, 7, 1, 0, nullptr);
  fill_random(q, Q, true, 8, 1, 0, nullptr);
  auto attn = [&] {
    for (int l = 0; l < L; ++l) {
      const size_t off = size_t(blocks) * 16 * KV * 2 * l;
      attn_decode(q, {static_cast<char*>(kc) + off, static_cast<char*>(vc) + off, bt, 64, 1}, lens,
                  1, {32, 8, 64, 0.125f, 0}, splits, kDecodePartitionSmall, {pacc, pml, ctr}, out,
                  true, st);
    }
  };
  const double g = time_ms(st, gemvs, 20), a = time_ms(st, attn, 20);
  const double bytes = double(layer) * L * 2 + double(V) * H * 2;
  std::printf(
      "  breakdown (llama-3.2-1b, batch 1): GEMVs %.3f ms/token (%.0f GB/s), attention %.3f "
      "ms/token\n",
      g, bytes / (g / 1e3) / 1e9, a);
  j["breakdown"] = {{"gemv_ms", g}, {"gemv_gbps", bytes / (g / 1e3) / 1e9}, {"attention_ms", a}};
  for (void* p :
       {w, lm, x16, y16, static_cast<void*>(x), static_cast<void*>(nw), static_cast<void*>(logits),
        kc, vc, q, out, static_cast<void*>(bt), static_cast<void*>(lens), static_cast<void*>(pacc),
        static_cast<void*>(pml), static_cast<void*>(ctr)})
    cudaFree(p);
  cudaStreamDestroy(st);
  (void)c;
}

// Costs of the batch-128 run, timed alone (Llama-3.2-1B heads, 16 layers): prefill attention of 8
// prompts of 512 tokens (the bench prefills 8 sequences per forward), decode attention of 128
// sequences, and the GPU draw of 128 rows over a 128k vocabulary (temperature 0.8, top-p 0.95)
// against greedy.
void batch_breakdown(nlohmann::json& j) {
  const int seqs = 8, prompt = 512, heads = 32, kvh = 8, hd = 64, L = 16;
  const int T = seqs * prompt, bps = prompt / kBlockSize, blocks = seqs * bps + 1;
  const AttnShape shape{heads, kvh, hd, 0.125f, 0};
  const int per = prefill_item_tokens(shape);
  std::vector<int32_t> table(size_t(seqs) * bps);
  for (size_t i = 0; i < table.size(); ++i) table[i] = int32_t(1 + i);
  std::vector<PrefillItem> items;
  for (int s = 0; s < seqs; ++s)
    for (int k = 0; k < prompt; k += per) items.push_back({s, s * prompt + k, per, k});
  const int R = 128, V = 128256;
  void *kc = nullptr, *vc = nullptr, *q = nullptr, *out = nullptr, *bt = nullptr, *it = nullptr;
  float* logits = nullptr;
  int32_t* ids = nullptr;
  SampleParams* params = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&kc, size_t(blocks) * kBlockSize * kvh * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&vc, size_t(blocks) * kBlockSize * kvh * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&q, size_t(T) * heads * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&out, size_t(T) * heads * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&bt, table.size() * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&it, items.size() * sizeof(PrefillItem)));
  OSPREY_CUDA_CHECK(cudaMalloc(&logits, size_t(R) * V * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&ids, R * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&params, R * sizeof(SampleParams)));
  OSPREY_CUDA_CHECK(cudaMemcpy(bt, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
  OSPREY_CUDA_CHECK(
      cudaMemcpy(it, items.data(), items.size() * sizeof(PrefillItem), cudaMemcpyHostToDevice));
  fill_random(kc, int64_t(blocks) * kBlockSize * kvh * hd, true, 11, 1, 0, nullptr);
  fill_random(vc, int64_t(blocks) * kBlockSize * kvh * hd, true, 12, 1, 0, nullptr);
  fill_random(q, int64_t(T) * heads * hd, true, 13, 1, 0, nullptr);
  fill_random(logits, int64_t(R) * V, false, 14, 4, 0, nullptr);
  std::vector<SampleParams> sp(R);
  for (int r = 0; r < R; ++r)
    sp[r].temperature = 0.8f, sp[r].top_p = 0.95f, sp[r].u = (r + 0.5) / R;
  OSPREY_CUDA_CHECK(
      cudaMemcpy(params, sp.data(), R * sizeof(SampleParams), cudaMemcpyHostToDevice));
  cudaStream_t st;
  OSPREY_CUDA_CHECK(cudaStreamCreate(&st));
  const PagedKV kv{kc, vc, static_cast<int32_t*>(bt), bps, 1};
  const double attn = time_ms(st, [&] {
    for (int l = 0; l < L; ++l)
      attn_prefill(q, kv, static_cast<PrefillItem*>(it), int(items.size()), shape, out, true, st);
  });
  // Causal FLOPs: QK^T and PV, 2 * head_dim each per (row, visible key).
  const double flops = 4.0 * hd * heads * L * seqs * (double(prompt) * (prompt + 1) / 2);
  const double greedy = time_ms(st, [&] { argmax_rows(logits, R, V, ids, st); });
  const double drawn = time_ms(st, [&] { sample_rows(logits, R, V, params, ids, st); });
  // Decode attention of 128 sequences at a 600-token context (the batch-128 run's average), 16
  // layers reading one layer's cache: K/V bytes read per second.
  const int S = 128, ctx = 600, sb = (ctx + kBlockSize - 1) / kBlockSize, dblocks = S * sb + 1;
  const int splits = (ctx + kDecodePartition - 1) / kDecodePartition;
  void *dk = nullptr, *dv = nullptr, *dq = nullptr, *dout = nullptr, *dbt = nullptr,
       *dlens = nullptr, *pacc = nullptr, *pml = nullptr;
  const size_t cache = size_t(dblocks) * kBlockSize * kvh * hd * 2;
  OSPREY_CUDA_CHECK(cudaMalloc(&dk, cache));
  OSPREY_CUDA_CHECK(cudaMalloc(&dv, cache));
  OSPREY_CUDA_CHECK(cudaMalloc(&dq, size_t(S) * heads * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&dout, size_t(S) * heads * hd * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&dbt, size_t(S) * sb * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&dlens, S * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&pacc, size_t(S) * heads * splits * hd * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&pml, size_t(S) * heads * splits * 2 * 4));
  std::vector<int32_t> dtable(size_t(S) * sb), lens(S, ctx);
  for (size_t i = 0; i < dtable.size(); ++i) dtable[i] = int32_t(1 + i);
  OSPREY_CUDA_CHECK(cudaMemcpy(dbt, dtable.data(), dtable.size() * 4, cudaMemcpyHostToDevice));
  OSPREY_CUDA_CHECK(cudaMemcpy(dlens, lens.data(), S * 4, cudaMemcpyHostToDevice));
  fill_random(dk, int64_t(cache / 2), true, 15, 1, 0, nullptr);
  fill_random(dv, int64_t(cache / 2), true, 16, 1, 0, nullptr);
  fill_random(dq, int64_t(S) * heads * hd, true, 17, 1, 0, nullptr);
  const PagedKV dkv{dk, dv, static_cast<int32_t*>(dbt), sb, 1};
  const double dec = time_ms(st, [&] {
    for (int l = 0; l < L; ++l)
      attn_decode(dq, dkv, static_cast<int32_t*>(dlens), S, shape, splits, kDecodePartition,
                  {static_cast<float*>(pacc), static_cast<float*>(pml), nullptr}, dout, true, st);
  });
  const double dec_bytes = 2.0 * S * ctx * kvh * hd * 2 * L;
  std::printf(
      "  breakdown (batch): prefill attention %.3f ms per 8 x 512 tokens (%.1f TFLOP/s); "
      "decode attention %.3f ms per step of 128 at 600 positions (%.0f GB/s); "
      "128-row draw %.3f ms (top-p 0.95), argmax %.3f ms\n",
      attn, flops / (attn / 1e3) / 1e12, dec, dec_bytes / (dec / 1e3) / 1e9, drawn, greedy);
  j["batch_breakdown"] = {
      {"prefill_attention_ms", attn}, {"prefill_attention_tflops", flops / (attn / 1e3) / 1e12},
      {"decode_attention_ms", dec},   {"decode_attention_gbps", dec_bytes / (dec / 1e3) / 1e9},
      {"draw_top_p_ms", drawn},       {"argmax_ms", greedy}};
  for (void* p : {kc, vc, q, out, bt, it, static_cast<void*>(logits), static_cast<void*>(ids),
                  static_cast<void*>(params), dk, dv, dq, dout, dbt, dlens, pacc, pml})
    cudaFree(p);
  cudaStreamDestroy(st);
}

// The GEMMs of one Llama-3.2-1B decode step (16 layers of distinct weights and the LM head, f32
// logits) at batch 16, 64 and 128, against the weight bytes they must read: cuBLAS's default
// algorithms, then each shape tuned (cuBLASLt's candidates and the streaming kernel, and for
// gate/up its fused SwiGLU against the GEMM + silu_mul), with the per-shape times of each. The step
// includes the SwiGLU, fused or not.
void decode_gemms(nlohmann::json& j) {
  const int H = 2048, F = 8192, QKV = 3072, V = 128256, L = 16, kMaxM = 128;
  const size_t layer = size_t(QKV) * H + size_t(H) * H + 2 * size_t(F) * H + size_t(H) * F;
  void *w = nullptr, *lm = nullptr, *x = nullptr, *y16 = nullptr, *act = nullptr;
  float *res = nullptr, *logits = nullptr;
  OSPREY_CUDA_CHECK(cudaMalloc(&w, layer * L * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&lm, size_t(V) * H * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&x, size_t(kMaxM) * F * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&y16, size_t(kMaxM) * 2 * F * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&act, size_t(kMaxM) * F * 2));
  OSPREY_CUDA_CHECK(cudaMalloc(&res, size_t(kMaxM) * H * 4));
  OSPREY_CUDA_CHECK(cudaMalloc(&logits, size_t(kMaxM) * V * 4));
  fill_random(w, int64_t(layer) * L, true, 21, 0.03f, 0, nullptr);
  fill_random(lm, int64_t(V) * H, true, 22, 0.03f, 0, nullptr);
  fill_random(x, int64_t(kMaxM) * F, true, 23, 1, 0, nullptr);
  OSPREY_CUDA_CHECK(cudaMemset(res, 0, size_t(kMaxM) * H * 4));
  cudaStream_t st;
  OSPREY_CUDA_CHECK(cudaStreamCreate(&st));
  std::vector<const void*> wqkv, wo, wgu, wdown;
  for (int l = 0; l < L; ++l) {
    const char* b = static_cast<const char*>(w) + layer * l * 2;
    wqkv.push_back(b), wo.push_back(b + size_t(QKV) * H * 2);
    wgu.push_back(b + size_t(QKV + H) * H * 2),
        wdown.push_back(b + size_t(QKV + H + 2 * F) * H * 2);
  }
  const void* const head[] = {lm};
  const double bytes = double(layer) * L * 2 + double(V) * H * 2;
  for (const int M : {16, 64, kMaxM}) {
    Gemm gemm(st);
    auto step = [&] {
      for (int l = 0; l < L; ++l) {
        gemm(x, M, H, wqkv[l], QKV, y16, true, false, false);
        gemm(x, M, H, wo[l], H, res, true, true, true);
        if (!gemm.swiglu(x, M, H, wgu[l], 2 * F, act)) {
          gemm(x, M, H, wgu[l], 2 * F, y16, true, false, false);
          silu_mul(y16, nullptr, M, F, act, true, st);
        }
        gemm(x, M, F, wdown[l], H, res, true, true, true);
      }
      gemm(x, M, H, lm, V, logits, true, true, false);
    };
    const double ms_default = time_ms(st, step);
    struct Shape {
      const char* name;
      int K;
      std::span<const void* const> ws;
      int N;
      void* y;
      bool f32;
    };
    std::string shapes;
    nlohmann::json js;
    for (const Shape& sh :
         {Shape{"qkv", H, wqkv, QKV, y16, false}, Shape{"o", H, wo, H, res, true},
          Shape{"gate_up", H, wgu, 2 * F, y16, false}, Shape{"down", F, wdown, H, res, true},
          Shape{"lm_head", H, head, V, logits, true}}) {
      const bool gate_up = sh.N == 2 * F;
      const Gemm::Timing t = gemm.tune(x, M, sh.K, sh.ws, sh.N, sh.y, sh.f32, gate_up);
      const double mb = double(sh.N) * sh.K * 2 / 1e6;
      const std::string chosen = t.stream_splits
                                     ? " (stream v" + std::to_string(t.stream_variant) + ", " +
                                           std::to_string(t.stream_splits) + " splits, " +
                                           std::to_string(int(mb / t.stream_ms)) + " GB/s)"
                                     : "";
      char buf[160];
      std::snprintf(buf, sizeof buf, " %s %.1f/%.1f/%.1f us%s", sh.name, t.default_ms * 1e3,
                    t.cublas_ms * 1e3, t.stream_ms * 1e3, chosen.c_str());
      shapes += buf;
      if (gate_up) {
        const std::string fused = t.swiglu_splits
                                      ? ", chosen: v" + std::to_string(t.swiglu_variant) + ", " +
                                            std::to_string(t.swiglu_splits) + " splits"
                                      : "";
        std::snprintf(buf, sizeof buf, " [+silu_mul %.1f us; fused SwiGLU %.1f us%s]",
                      t.silu_ms * 1e3, t.swiglu_ms * 1e3, fused.c_str());
        shapes += buf;
      }
      js[sh.name] = {{"default_ms", t.default_ms},
                     {"cublas_ms", t.cublas_ms},
                     {"stream_ms", t.stream_ms},
                     {"stream_splits", t.stream_splits},
                     {"silu_ms", t.silu_ms},
                     {"swiglu_ms", t.swiglu_ms},
                     {"swiglu_splits", t.swiglu_splits}};
    }
    const double ms = time_ms(st, step);
    std::printf(
        "  breakdown (GEMMs, batch %d): %.3f ms per decode step (%.0f GB/s of weights), cuBLAS "
        "default %.3f ms (%.0f GB/s), each with the SwiGLU; per shape default/cuBLASLt/stream:%s\n",
        M, ms, bytes / (ms / 1e3) / 1e9, ms_default, bytes / (ms_default / 1e3) / 1e9,
        shapes.c_str());
    const std::string key = "gemms_batch" + std::to_string(M);
    j[key] = {
        {"ms", ms}, {"gbps", bytes / (ms / 1e3) / 1e9}, {"default_ms", ms_default}, {"shapes", js}};
    if (M == kMaxM) {
      j["batch_breakdown"]["gemm_ms"] = ms;
      j["batch_breakdown"]["gemm_gbps"] = bytes / (ms / 1e3) / 1e9;
      j["batch_breakdown"]["gemm_default_ms"] = ms_default;
    }
  }
  for (void* p : {w, lm, x, y16, act, static_cast<void*>(res), static_cast<void*>(logits)})
    cudaFree(p);
  cudaStreamDestroy(st);
}

struct RunResult {
  double prefill_tok_s = 0, decode_tok_s = 0, ms_per_step = 0;
};

// `batch` sequences of `prompt` random tokens, prefilled `prefill_group` sequences per forward,
// then `out` greedy steps of the whole batch (the first step, which captures the graph, is not
// timed).
RunResult run(CudaModel& m, int batch, int prompt, int out, int prefill_group, std::mt19937& rng) {
  const int64_t V = m.config().vocab_size;
  BlockAllocator alloc(m.num_blocks());
  std::vector<std::vector<int32_t>> blocks;
  for (int s = 0; s < batch; ++s) blocks.push_back(alloc.allocate((prompt + out + 15) / 16));
  std::vector<int32_t> ids(batch);
  RunResult r;
  const auto t0 = Clock::now();
  for (int s0 = 0; s0 < batch; s0 += prefill_group) {
    CudaBatch b;
    for (int s = s0; s < std::min(batch, s0 + prefill_group); ++s) {
      for (int i = 0; i < prompt; ++i) b.tokens.push_back(int32_t(rng() % V));
      b.seqs.push_back({0, prompt, blocks[s], false});
    }
    m.greedy_step(b, ids.data() + s0);
  }
  r.prefill_tok_s = double(batch) * prompt / seconds_since(t0);
  auto step = [&](int k) {
    CudaBatch d;
    d.tokens = ids;
    for (int s = 0; s < batch; ++s) d.seqs.push_back({prompt + k, 1, blocks[s], false});
    m.greedy_step(d, ids.data());
  };
  step(0);  // captures this batch size's graph
  const auto t1 = Clock::now();
  for (int k = 1; k < out; ++k) step(k);
  const double dt = seconds_since(t1);
  r.ms_per_step = dt / (out - 1) * 1e3;
  r.decode_tok_s = double(batch) * (out - 1) / dt;
  return r;
}

// `--profile prefill|decode`: one 8192-token prefill forward (16 prompts of 512) or one batch-128
// decode step of a random Llama-3.2-1B, eager (no graph), between cudaProfilerStart/Stop, for
// `ncu --profile-from-start off` to time every kernel of it.
int profile_step(const std::string& what) {
  CudaModelOptions o;
  o.max_batch_tokens = 8192;
  o.max_seqs = 128;
  o.max_seq_len = 2048;
  o.cuda_graphs = false;
  o.num_blocks = 128 * 40 + 8;
  auto m = CudaModel::random(model_preset("llama-3.2-1b"), 7, o);
  m->tune_gemms();
  BlockAllocator alloc(m->num_blocks());
  std::mt19937 rng(1);
  std::vector<std::vector<int32_t>> blocks;
  for (int s = 0; s < 128; ++s) blocks.push_back(alloc.allocate(40));
  std::vector<int32_t> ids(128);
  auto prefill = [&](int s0) {
    CudaBatch b;
    for (int s = s0; s < s0 + 16; ++s) {
      for (int i = 0; i < 512; ++i) b.tokens.push_back(int32_t(rng() % 128000));
      b.seqs.push_back({0, 512, blocks[s], false});
    }
    m->greedy_step(b, ids.data() + s0);
  };
  auto decode = [&] {
    CudaBatch d;
    d.tokens = ids;
    for (int s = 0; s < 128; ++s) d.seqs.push_back({512, 1, blocks[s], false});
    m->greedy_step(d, ids.data());
  };
  for (int s0 = 0; s0 < 128; s0 += 16) prefill(s0);
  decode();  // warm
  OSPREY_CUDA_CHECK(cudaProfilerStart());
  if (what == "prefill")
    prefill(0);
  else
    decode();
  OSPREY_CUDA_CHECK(cudaProfilerStop());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path, profile;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--json") json_path = argv[i + 1];
    if (std::string(argv[i]) == "--profile") profile = argv[i + 1];
  }
  try {
    if (!gpu_available()) {
      std::printf("no CUDA GPU\n");
      return 1;
    }
    if (!profile.empty()) return profile_step(profile);
    cudaDeviceProp prop{};
    OSPREY_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const double bw = copy_bandwidth();
    std::printf("device %s, %d SMs; copy bandwidth %.0f GB/s (read + write)\n", prop.name,
                prop.multiProcessorCount, bw / 1e9);
    nlohmann::json j = {{"device", prop.name}, {"copy_gbps", bw / 1e9}};
    batch1_breakdown(j);
    batch_breakdown(j);
    decode_gemms(j);
    std::mt19937 rng(42);
    const int prompt = 512, out = 128;
    struct Row {
      std::string what;
      RunResult r;
      double roofline;  // tok/s at the copy bandwidth, batch 1 only
    };
    std::vector<Row> rows;
    for (const std::string preset : {"llama-3.2-1b", "tinyllama-1.1b"}) {
      const ModelConfig c = model_preset(preset);
      CudaModelOptions o;
      o.max_batch_tokens = 4096;
      o.max_seqs = 128;
      // The checkpoint's own context (Llama 3.2: 131,072): decode graphs and per-step metadata must
      // not grow with it.
      o.max_seq_len = c.max_position_embeddings;
      o.num_blocks = 128 * ((prompt + out + 15) / 16) + 8;
      const auto t0 = Clock::now();
      auto m = CudaModel::random(c, 7, o);
      const CudaModel::GemmTuning tuned = m->tune_gemms();
      std::printf(
          "%s: %.2f GB of weights, set up in %.1f s (GEMMs tuned for %d shapes: batch-128 step "
          "%.3f ms, cuBLAS default %.3f ms)\n",
          preset.c_str(), m->weight_bytes() / 1e9, seconds_since(t0), tuned.shapes,
          tuned.decode_tuned_ms, tuned.decode_default_ms);
      const double roof = bw / double(m->weight_bytes());
      const RunResult b1 = run(*m, 1, prompt, out, 1, rng);
      rows.push_back({preset + " batch 1", b1, roof});
      std::printf(
          "  batch 1: prefill %.0f tok/s, decode %.1f tok/s (%.3f ms/token), %.1f%% of roofline "
          "%.0f\n",
          b1.prefill_tok_s, b1.decode_tok_s, b1.ms_per_step, 100 * b1.decode_tok_s / roof, roof);
      j[preset]["batch1"] = {{"prefill_tok_s", b1.prefill_tok_s},
                             {"decode_tok_s", b1.decode_tok_s},
                             {"roofline_tok_s", roof},
                             {"weight_bytes", m->weight_bytes()}};
      if (preset == "llama-3.2-1b") {
        const RunResult b = run(*m, 128, prompt, out, 8, rng);
        rows.push_back({preset + " batch 128", b, 0});
        std::printf("  batch 128: prefill %.0f tok/s, decode %.0f tok/s (%.3f ms/step)\n",
                    b.prefill_tok_s, b.decode_tok_s, b.ms_per_step);
        j[preset]["batch128"] = {{"prefill_tok_s", b.prefill_tok_s},
                                 {"decode_tok_s", b.decode_tok_s}};
      }
    }
    std::printf("\n%-28s %12s %12s %10s %10s\n", "run (prompt 512, out 128)", "prefill t/s",
                "decode t/s", "ms/step", "roofline");
    for (const auto& r : rows)
      std::printf("%-28s %12.0f %12.1f %10.3f %9.1f%%\n", r.what.c_str(), r.r.prefill_tok_s,
                  r.r.decode_tok_s, r.r.ms_per_step,
                  r.roofline > 0 ? 100 * r.r.decode_tok_s / r.roofline : 0.0);
    if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "osprey_cuda_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
