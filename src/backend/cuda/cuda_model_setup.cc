// CudaModel setup: the memory plan (weights, activations, KV cache: one allocation each, carved),
// the clear error when a model does not fit, weight upload with dtype conversion and the fusions
// the kernels expect (q/k/v stacked, gate/up interleaved), and random initialization on the GPU.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_model_impl.h"
#include "core/error.h"

namespace osprey::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr double kMiB = 1024.0 * 1024.0, kGiB = kMiB * 1024.0;

// Hands out aligned pieces of one allocation; with a null base it only measures.
struct Carver {
  char* base = nullptr;
  size_t off = 0;
  void* take(size_t bytes) {
    off = (off + kAlign - 1) / kAlign * kAlign;
    void* p = base ? base + off : nullptr;
    off += bytes;
    return p;
  }
  template <typename T>
  T* take_as(size_t n) {
    return static_cast<T*>(take(n * sizeof(T)));
  }
};

}  // namespace

CudaModel::Impl::Impl(const ModelConfig& c, const CudaModelOptions& o)
    : config(c), opts(o), bf16(o.bf16) {
  config.validate("CUDA model");
  esz = bf16 ? 2 : 4;
  H = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  if (config.layer_window.size() != static_cast<size_t>(c.num_layers))
    config.layer_window.assign(c.num_layers, 0);
  check_attention_shape({c.num_heads, c.num_kv_heads, c.head_dim, 1.0f, 0}, bf16);
  if (opts.max_batch_tokens <= 0 || opts.max_seqs <= 0 || opts.max_seq_len <= 0)
    invalid_input("CUDA model: max_batch_tokens, max_seqs and max_seq_len must be positive");
  max_blocks = static_cast<int>((opts.max_seq_len + kBlockSize - 1) / kBlockSize);
  // Decode partials: S x decode_splits(S) slots per head for the largest such product.
  for (int S = 1; S <= opts.max_seqs; ++S)
    max_partials = std::max<int64_t>(
        max_partials,
        int64_t(S) * decode_splits(S, {c.num_heads, c.num_kv_heads, c.head_dim, 1.0f, 0}));
  max_rows = opts.max_logit_rows > 0 ? opts.max_logit_rows : std::max(opts.max_seqs, 256);
  max_rows = std::max(max_rows, opts.max_seqs);  // a decode batch has one row per sequence

  // Weight plan: measure, then carve for real below.
  uint64_t head_end = 0;  // bytes before the first layer: embedding, LM head, final norm
  auto carve_weights = [&](Carver& cv, std::vector<uint64_t>* layer_end) {
    embed = cv.take(V * H * esz);
    lm_head = c.tie_word_embeddings ? embed : cv.take(V * H * esz);
    final_norm = cv.take_as<float>(H);
    inv_freq = cv.take_as<float>(c.head_dim / 2);
    head_end = cv.off;
    layers.assign(c.num_layers, {});
    for (auto& L : layers) {
      L.wqkv = cv.take((Q + 2 * KV) * H * esz);
      L.wo = cv.take(H * Q * esz);
      L.wgu = cv.take(2 * F * H * esz);
      L.wdown = cv.take(H * F * esz);
      L.attn_norm = cv.take_as<float>(H);
      L.ffn_norm = cv.take_as<float>(H);
      if (c.qk_norm)
        L.q_norm = cv.take_as<float>(c.head_dim), L.k_norm = cv.take_as<float>(c.head_dim);
      if (c.qkv_bias) L.bqkv = cv.take_as<float>(Q + 2 * KV);
      if (c.o_bias) L.bo = cv.take_as<float>(H);
      if (c.mlp_bias) L.bgu = cv.take_as<float>(2 * F), L.bdown = cv.take_as<float>(H);
      if (layer_end) layer_end->push_back(cv.off);
    }
  };
  const int Tm = opts.max_batch_tokens, Sm = opts.max_seqs, Rm = max_rows;
  MetaLayout ml{Tm, Sm, Rm, Tm, max_blocks};
  meta_capacity = ml.total();
  auto carve_acts = [&](Carver& cv) {
    x = cv.take_as<float>(size_t(Tm) * H);
    h = cv.take(size_t(std::max(Tm, Rm)) * H * esz);
    qkv = cv.take(size_t(Tm) * (Q + 2 * KV) * esz);
    q = cv.take(size_t(Tm) * Q * esz);
    att = cv.take(size_t(Tm) * Q * esz);
    gu = cv.take(size_t(Tm) * 2 * F * esz);
    act = cv.take(size_t(Tm) * F * esz);
    logits = cv.take_as<float>(size_t(Rm) * V);
    ids = cv.take_as<int32_t>(Rm);
    rope_cs = cv.take_as<float>(size_t(Tm) * c.head_dim);
    part_acc = cv.take_as<float>(size_t(max_partials) * c.num_heads * c.head_dim);
    part_ml = cv.take_as<float>(size_t(max_partials) * c.num_heads * 2);
    decode_counters_dev =
        cv.take_as<int>(decode_counters(Sm, {c.num_heads, c.num_kv_heads, c.head_dim, 1.0f, 0}));
    meta = cv.take_as<int32_t>(meta_capacity);
  };
  Carver wm, am;
  std::vector<uint64_t> layer_end;
  carve_weights(wm, &layer_end);
  carve_acts(am);
  weight_bytes =
      uint64_t(c.num_layers) * ((Q + 2 * KV) * H + H * Q + 3 * F * H) * esz + V * H * esz + H * 4;

  const uint64_t block_bytes = uint64_t(c.num_layers) * 2 * kBlockSize * KV * esz;
  size_t free_b = 0, total_b = 0;
  OSPREY_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  // A per-instance share of the whole card (as vLLM reads --gpu-memory-utilization): two engines at
  // 0.5 each fit on one GPU. Never more than is free, less a little for the CUDA context and
  // cuBLAS.
  const double share = std::clamp(opts.gpu_memory_utilization, 0.05, 1.0) * double(total_b);
  const double budget = std::max(0.0, std::min(share, double(free_b) - 256.0 * kMiB));
  const int64_t min_blocks = opts.num_blocks > 0 ? opts.num_blocks : max_blocks + 1;
  const double fixed = double(am.off) + double(min_blocks) * double(block_bytes);
  if (double(wm.off) + fixed > budget) {
    // Name the first piece that does not fit: the embedding table or a layer.
    const double room = budget - fixed;
    int layer = 0;
    while (layer < c.num_layers && double(layer_end[layer]) <= room) ++layer;
    const std::string what =
        room < double(head_end)
            ? std::string("the embedding table and LM head")
            : "layer " + std::to_string(layer) + " of " + std::to_string(c.num_layers);
    const double missing = double(wm.off) + fixed - budget;
    invalid_input(
        "model does not fit on the GPU: {:.2f} GiB usable ({:.2f} GiB free), activations "
        "{:.0f} MiB and KV cache >= {:.0f} MiB leave {:.2f} GiB for weights of {:.2f} GiB; {} "
        "does not fit, {:.0f} MiB missing in all",
        budget / kGiB, double(free_b) / kGiB, double(am.off) / kMiB,
        double(min_blocks * block_bytes) / kMiB, std::max(0.0, room) / kGiB, double(wm.off) / kGiB,
        what, missing / kMiB);
  }
  num_blocks = opts.num_blocks > 0
                   ? opts.num_blocks
                   : int64_t((budget - double(wm.off) - double(am.off)) / double(block_bytes));

  if (const char* env = std::getenv("OSPREY_CUDA_L2_PREFETCH_MIB")) {
    char* end = nullptr;
    const long mib = std::strtol(env, &end, 10);
    if (end == env || *end || mib < 0)
      invalid_input("OSPREY_CUDA_L2_PREFETCH_MIB is '{}': a whole number of MiB", env);
    int dev = 0, l2 = 0;
    OSPREY_CUDA_CHECK(cudaGetDevice(&dev));
    OSPREY_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    // At most half the L2 (the attention's K/V and the activations stay cached too), and no more
    // than a layer's o and gate/up weights.
    l2_prefetch_bytes =
        std::min({size_t(mib) << 20, size_t(l2) / 2, size_t(H * Q + 2 * F * H) * esz}) &
        ~size_t(15);
  }
  OSPREY_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  gemm = std::make_unique<Gemm>(stream);
  OSPREY_CUDA_CHECK(cudaMalloc(&weights_mem, wm.off));
  OSPREY_CUDA_CHECK(cudaMalloc(&act_mem, am.off));
  OSPREY_CUDA_CHECK(cudaMalloc(&kv_mem, size_t(num_blocks) * block_bytes));
  OSPREY_CUDA_CHECK(cudaMallocHost(&meta_host, meta_capacity * sizeof(int32_t)));
  OSPREY_CUDA_CHECK(cudaMalloc(&sample_dev, size_t(max_rows) * sizeof(SampleParams)));
  OSPREY_CUDA_CHECK(cudaMallocHost(&sample_host, size_t(max_rows) * sizeof(SampleParams)));
  OSPREY_CUDA_CHECK(cudaMalloc(&logprobs_dev, size_t(max_rows) * sizeof(LogprobOut)));
  OSPREY_CUDA_CHECK(cudaMallocHost(&logprobs_host, size_t(max_rows) * sizeof(LogprobOut)));
  Carver w{static_cast<char*>(weights_mem)}, a{static_cast<char*>(act_mem)};
  carve_weights(w, nullptr);
  carve_acts(a);
  OSPREY_CUDA_CHECK(cudaMemset(
      decode_counters_dev, 0,
      decode_counters(Sm, {c.num_heads, c.num_kv_heads, c.head_dim, 1.0f, 0}) * sizeof(int)));
  const std::vector<float> f = rope_inv_freq(c.rope, c.head_dim);
  OSPREY_CUDA_CHECK(cudaMemcpy(inv_freq, f.data(), f.size() * 4, cudaMemcpyHostToDevice));
}

CudaModel::Impl::~Impl() {
  for (auto& [b, g] : graphs) cudaGraphExecDestroy(g);
  if (stream) cudaStreamSynchronize(stream);
  cudaFree(kv_mem);
  cudaFree(act_mem);
  cudaFree(weights_mem);
  cudaFreeHost(meta_host);
  cudaFree(sample_dev);
  cudaFreeHost(sample_host);
  cudaFree(edits_dev);
  cudaFreeHost(edits_host);
  cudaFree(edits_raw);
  cudaFree(logprobs_dev);
  cudaFreeHost(logprobs_host);
  gemm.reset();
  if (stream) cudaStreamDestroy(stream);
}

void* CudaModel::Impl::kv_layer(int l, bool v) const {
  const size_t half = size_t(num_blocks) * kBlockSize * KV * esz;
  return static_cast<char*>(kv_mem) + (2 * size_t(l) + (v ? 1 : 0)) * half;
}

namespace {

// Host staging in the device dtype.
struct Uploader {
  bool bf16;
  std::vector<uint16_t> b16;
  void put(void* dst, const float* src, size_t n) {
    if (!bf16) {
      OSPREY_CUDA_CHECK(cudaMemcpy(dst, src, n * 4, cudaMemcpyHostToDevice));
      return;
    }
    b16.resize(n);
    for (size_t i = 0; i < n; ++i) b16[i] = f32_to_bf16(src[i]);
    OSPREY_CUDA_CHECK(cudaMemcpy(dst, b16.data(), n * 2, cudaMemcpyHostToDevice));
  }
  void put(void* dst, const Tensor& t) {
    const Tensor f = t.to_f32();
    put(dst, f.data<float>(), size_t(f.numel()));
  }
  static void put_f32(float* dst, const Tensor& t) {
    const Tensor f = t.to_f32();
    OSPREY_CUDA_CHECK(cudaMemcpy(dst, f.data<float>(), f.nbytes(), cudaMemcpyHostToDevice));
  }
};

// Rows of a and b interleaved (a0, b0, a1, b1, ...): gate and up side by side for the SwiGLU
// epilogue.
std::vector<float> interleave_rows(const Tensor& a, const Tensor& b, int64_t rows, int64_t cols) {
  const Tensor fa = a.to_f32(), fb = b.to_f32();
  std::vector<float> out(size_t(2 * rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(fa.data<float>() + r * cols, cols, out.begin() + (2 * r) * cols);
    std::copy_n(fb.data<float>() + r * cols, cols, out.begin() + (2 * r + 1) * cols);
  }
  return out;
}

}  // namespace

void CudaModel::Impl::upload(const WeightStore& w) {
  const auto& c = config;
  Uploader up{bf16, {}};
  up.put(embed, w.get("model.embed_tokens.weight", {V, H}));
  if (!c.tie_word_embeddings) up.put(lm_head, w.get("lm_head.weight", {V, H}));
  Uploader::put_f32(final_norm, w.get("model.norm.weight", {H}));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const LayerWeights& L = layers[i];
    char* qkv_dst = static_cast<char*>(L.wqkv);
    up.put(qkv_dst, w.get(p + "self_attn.q_proj.weight", {Q, H}));
    up.put(qkv_dst + Q * H * esz, w.get(p + "self_attn.k_proj.weight", {KV, H}));
    up.put(qkv_dst + (Q + KV) * H * esz, w.get(p + "self_attn.v_proj.weight", {KV, H}));
    up.put(L.wo, w.get(p + "self_attn.o_proj.weight", {H, Q}));
    const auto gu_rows = interleave_rows(w.get(p + "mlp.gate_proj.weight", {F, H}),
                                         w.get(p + "mlp.up_proj.weight", {F, H}), F, H);
    up.put(L.wgu, gu_rows.data(), gu_rows.size());
    up.put(L.wdown, w.get(p + "mlp.down_proj.weight", {H, F}));
    Uploader::put_f32(L.attn_norm, w.get(p + "input_layernorm.weight", {H}));
    Uploader::put_f32(L.ffn_norm, w.get(p + "post_attention_layernorm.weight", {H}));
    if (c.qk_norm) {
      Uploader::put_f32(L.q_norm, w.get(p + "self_attn.q_norm.weight", {c.head_dim}));
      Uploader::put_f32(L.k_norm, w.get(p + "self_attn.k_norm.weight", {c.head_dim}));
    }
    if (c.qkv_bias) {
      Uploader::put_f32(L.bqkv, w.get(p + "self_attn.q_proj.bias", {Q}));
      Uploader::put_f32(L.bqkv + Q, w.get(p + "self_attn.k_proj.bias", {KV}));
      Uploader::put_f32(L.bqkv + Q + KV, w.get(p + "self_attn.v_proj.bias", {KV}));
    }
    if (c.o_bias) Uploader::put_f32(L.bo, w.get(p + "self_attn.o_proj.bias", {H}));
    if (c.mlp_bias) {
      const auto b = interleave_rows(w.get(p + "mlp.gate_proj.bias", {F}).reshape({F, 1}),
                                     w.get(p + "mlp.up_proj.bias", {F}).reshape({F, 1}), F, 1);
      OSPREY_CUDA_CHECK(cudaMemcpy(L.bgu, b.data(), b.size() * 4, cudaMemcpyHostToDevice));
      Uploader::put_f32(L.bdown, w.get(p + "mlp.down_proj.bias", {H}));
    }
  }
}

void CudaModel::Impl::randomize(uint64_t seed) {
  const auto& c = config;
  const float a = 0.02f * std::sqrt(3.0f);  // uniform with std 0.02
  uint64_t s = seed * 1000003u;
  auto mat = [&](void* p, int64_t n) { fill_random(p, n, bf16, ++s, a, 0.0f, stream); };
  auto vec = [&](float* p, int64_t n, float scale, float offset) {
    if (p) fill_random(p, n, false, ++s, scale, offset, stream);
  };
  mat(embed, V * H);
  if (!c.tie_word_embeddings) mat(lm_head, V * H);
  vec(final_norm, H, 0.1f, 1.0f);
  for (auto& L : layers) {
    mat(L.wqkv, (Q + 2 * KV) * H);
    mat(L.wo, H * Q);
    mat(L.wgu, 2 * F * H);
    mat(L.wdown, H * F);
    vec(L.attn_norm, H, 0.1f, 1.0f);
    vec(L.ffn_norm, H, 0.1f, 1.0f);
    vec(L.q_norm, c.head_dim, 0.1f, 1.0f);
    vec(L.k_norm, c.head_dim, 0.1f, 1.0f);
    vec(L.bqkv, Q + 2 * KV, 0.02f, 0.0f);
    vec(L.bo, H, 0.02f, 0.0f);
    vec(L.bgu, 2 * F, 0.02f, 0.0f);
    vec(L.bdown, H, 0.02f, 0.0f);
  }
  OSPREY_CUDA_CHECK(cudaStreamSynchronize(stream));
}

CudaModel::CudaModel(const ModelConfig& config, const CudaModelOptions& opts)
    : impl_(std::make_unique<Impl>(config, opts)) {}

CudaModel::CudaModel(const ModelConfig& config, const WeightStore& weights,
                     const CudaModelOptions& opts)
    : CudaModel(config, opts) {
  impl_->upload(weights);
}

std::unique_ptr<CudaModel> CudaModel::random(const ModelConfig& config, uint64_t seed,
                                             const CudaModelOptions& opts) {
  std::unique_ptr<CudaModel> m(new CudaModel(config, opts));
  m->impl_->randomize(seed);
  return m;
}

CudaModel::~CudaModel() = default;
const ModelConfig& CudaModel::config() const {
  return impl_->config;
}
const CudaModelOptions& CudaModel::options() const {
  return impl_->opts;
}
int64_t CudaModel::num_blocks() const {
  return impl_->num_blocks;
}
uint64_t CudaModel::weight_bytes() const {
  return impl_->weight_bytes;
}

BlockAllocator::BlockAllocator(int64_t num_blocks) {
  for (int64_t b = num_blocks - 1; b >= 1; --b) free_.push_back(static_cast<int32_t>(b));
}

std::vector<int32_t> BlockAllocator::allocate(int64_t n) {
  if (n > free_blocks())
    invalid_input("KV cache full: {} blocks wanted, {} free", n, free_blocks());
  std::vector<int32_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  return out;
}

void BlockAllocator::release(const std::vector<int32_t>& blocks) {
  free_.insert(free_.end(), blocks.begin(), blocks.end());
}

}  // namespace osprey::cuda
