// Quantization at load time (`--quantize q8_0|q4_0|q4_k|q6_k`): a WeightStore over another whose
// projection matrices come back block-quantized, converted row by row on the thread pool.
#include <algorithm>
#include <cctype>
#include <vector>

#include "core/error.h"
#include "core/huge_pages.h"
#include "core/thread_pool.h"
#include "model/weights.h"

namespace osprey {

std::optional<DType> parse_quantize_type(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower.empty() || lower == "none") return std::nullopt;
  if (lower == "q8_0") return DType::Q8_0;
  if (lower == "q4_0") return DType::Q4_0;
  if (lower == "q4_k") return DType::Q4_K;
  if (lower == "q6_k") return DType::Q6_K;
  invalid_input("unknown quantization '{}' (expected q8_0, q4_0, q4_k or q6_k)", name);
}

std::optional<DType> quantized_dtype_for(const std::string& hf_name, const Tensor& t, DType type) {
  if (t.ndim() != 2) return std::nullopt;
  if (t.dtype() != DType::F32 && t.dtype() != DType::F16 && t.dtype() != DType::BF16)
    return std::nullopt;
  const bool proj = hf_name.ends_with("_proj.weight");
  const bool head = hf_name == "lm_head.weight";
  if (!proj && !head) return std::nullopt;  // embeddings (and anything unknown) keep their dtype
  // The output projection decides every logit: like llama.cpp, keep it above 4 bits.
  DType want = type;
  if (head && type == DType::Q4_0) want = DType::Q8_0;
  if (head && type == DType::Q4_K) want = DType::Q6_K;
  // Rows that are not whole super-blocks of 256 take Q8_0 instead (as llama.cpp falls back).
  if (t.dim(1) % dtype_info(want).block_elems != 0) want = DType::Q8_0;
  if (t.dim(1) % dtype_info(want).block_elems != 0) return std::nullopt;  // rows not whole blocks
  return want;
}

Tensor quantize_rows(const Shape& shape, DType type,
                     const std::function<void(int64_t row, float* out)>& row_f32) {
  OSPREY_CHECK(!shape.empty(), "quantize_rows needs at least one dimension");
  Tensor out = Tensor::zeros(type, shape);
  const int64_t k = shape.back(), n = k > 0 ? out.numel() / k : 0;
  const size_t out_row = dtype_bytes(type, k);
  auto* dst = out.data<uint8_t>();
  ThreadPool::global().parallel_for(n, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(k);
    for (int64_t r = r0; r < r1; ++r) {
      row_f32(r, row.data());
      quantize_row(type, row.data(), dst + r * out_row, k);
    }
  });
  return out;
}

Tensor quantize_matrix(const Tensor& w, DType type) {
  OSPREY_CHECK(w.ndim() == 2, "quantize_matrix needs a matrix, got {}", shape_str(w.shape()));
  const size_t in_row = dtype_bytes(w.dtype(), w.dim(1));
  const auto* src = static_cast<const uint8_t*>(w.raw());
  return quantize_rows(w.shape(), type, [&](int64_t r, float* out) {
    convert_to_f32(w.dtype(), src + r * in_row, out, w.dim(1));
  });
}

namespace {

class QuantizedWeights final : public WeightStore {
 public:
  QuantizedWeights(std::shared_ptr<WeightStore> base, DType type)
      : base_(std::move(base)), type_(type) {}

  const std::string& source() const override { return base_->source(); }
  std::optional<Tensor> find(const std::string& name) const override {
    auto t = base_->find(name);
    if (!t) return t;
    if (const auto q = quantized_dtype_for(name, *t, type_)) {
      Tensor out = quantize_matrix(*t, *q);
      // The full-precision pages are not needed again: out of resident memory with them.
      release_file_pages(*t);
      return out;
    }
    return t;
  }
  std::vector<std::string> names() const override { return base_->names(); }
  uint64_t total_bytes() const override { return base_->total_bytes(); }
  void prefetch(const std::function<void(uint64_t)>& on_bytes) const override {
    base_->prefetch(on_bytes);
  }

 private:
  std::shared_ptr<WeightStore> base_;
  DType type_;
};

}  // namespace

std::shared_ptr<WeightStore> quantize_weights(std::shared_ptr<WeightStore> base, DType type) {
  if (type != DType::Q8_0 && type != DType::Q4_0 && type != DType::Q4_K && type != DType::Q6_K) {
    unsupported("{}: quantization to {} (supported: Q8_0, Q4_0, Q4_K, Q6_K)", base->source(),
                dtype_name(type));
  }
  return std::make_shared<QuantizedWeights>(std::move(base), type);
}

}  // namespace osprey
