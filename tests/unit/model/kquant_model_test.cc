// A llama.cpp-style Q4_K_M mix end to end: a model whose matrices are Q4_K and Q6_K (embedding
// Q4_K, v/down projections and the output layer Q6_K, as llama-quantize's Q4_K_M mix does) runs
// with its quantized weights as they are, stays within the activation-quantization error of the
// same weights dequantized to f32, and gives bitwise the same logits when written to GGUF (Q/K rows
// permuted) and loaded back. The weights are random blocks with sane scales: Osprey has no K-quant
// quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/loader.h"
#include "model/random_model.h"
#include "test_util.h"

namespace osprey {
namespace {

namespace fs = std::filesystem;

Tensor random_kquant(DType dt, int64_t n, int64_t k, uint32_t seed) {
  Tensor w = Tensor::zeros(dt, {n, k});
  std::mt19937 rng(seed);
  auto* bytes = w.data<uint8_t>();
  for (size_t i = 0; i < w.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(rng());
  for (int64_t b = 0; b < n * k / kQKBlockElems; ++b) {
    if (dt == DType::Q4_K) {
      // Sub-blocks 0-3: scale 40, min 20; 4-7: scale 14, min 7; dmin = 15 d centers the values.
      BlockQ4_K& q = w.data<BlockQ4_K>()[b];
      for (int j = 0; j < 4; ++j)
        q.scales[j] = 40, q.scales[j + 4] = 20, q.scales[j + 8] = 7 << 4 | 14;
      q.d = f32_to_f16(1e-4f);
      q.dmin = f32_to_f16(1.5e-3f);
    } else {
      BlockQ6_K& q = w.data<BlockQ6_K>()[b];
      for (auto& s : q.scales) s = static_cast<int8_t>(8 + rng() % 16);
      q.d = f32_to_f16(8e-5f);
    }
  }
  return w;
}

// The f32 checkpoint's tensors with the matrices replaced by K-quant blocks (or their f32 values).
class KQuantStore final : public WeightStore {
 public:
  KQuantStore(std::shared_ptr<WeightStore> base, bool dequantized) : base_(std::move(base)) {
    uint32_t seed = 1;
    for (const auto& name : base_->names()) {
      Tensor t = *base_->find(name);
      if (t.ndim() != 2) continue;
      const bool six = name.ends_with("v_proj.weight") || name.ends_with("down_proj.weight") ||
                       name == "lm_head.weight";
      Tensor q = random_kquant(six ? DType::Q6_K : DType::Q4_K, t.dim(0), t.dim(1), seed++);
      over_[name] = dequantized ? q.to_f32() : q;
    }
  }
  const std::string& source() const override { return base_->source(); }
  std::optional<Tensor> find(const std::string& name) const override {
    auto it = over_.find(name);
    return it != over_.end() ? std::optional<Tensor>(it->second) : base_->find(name);
  }
  std::vector<std::string> names() const override { return base_->names(); }
  uint64_t total_bytes() const override { return base_->total_bytes(); }
  void prefetch(const std::function<void(uint64_t)>& f) const override { base_->prefetch(f); }

 private:
  std::shared_ptr<WeightStore> base_;
  std::map<std::string, Tensor> over_;
};

TEST(KQuantModel, Q4_KMMixRunsAndRoundTripsThroughGguf) {
  const std::string dir = ::testing::TempDir() + "/kquant-mix";
  const ModelConfig c = testing::write_block_aligned_model(dir);
  auto quant = std::make_shared<KQuantStore>(open_safetensors_weights(dir), false);
  auto deq = std::make_shared<KQuantStore>(open_safetensors_weights(dir), true);
  TransformerModel mq(c, quant), mf(c, deq);
  EXPECT_EQ(mq.weights().find("model.embed_tokens.weight")->dtype(), DType::Q4_K);
  const std::vector<int32_t> ids = {1, 7, 250, 42, 299, 3, 3, 100};
  const auto lq = prompt_logits(mq, ids), lf = prompt_logits(mf, ids);
  const double rel = testing::relative_rms_error(lq, lf);
  RecordProperty("relative_rms_error", std::to_string(rel));
  EXPECT_LT(rel, 0.03) << "int8 activations against f32 ones, same weights";
  EXPECT_GT(rel, 1e-5) << "the quantized path was not taken";

  const std::string path = dir + ".gguf";
  export_gguf(c, *quant, path, {});
  const auto f = gguf::File::open(path);
  EXPECT_EQ(gguf::ggml_type_name(f->find_tensor("token_embd.weight")->type), "Q4_K");
  EXPECT_EQ(gguf::ggml_type_name(f->find_tensor("blk.1.attn_k.weight")->type), "Q4_K");
  EXPECT_EQ(gguf::ggml_type_name(f->find_tensor("blk.1.attn_v.weight")->type), "Q6_K");
  EXPECT_EQ(gguf::ggml_type_name(f->find_tensor("output.weight")->type), "Q6_K");
  LoadedModel g = load_model(path, {.progress = false});
  const auto lg = prompt_logits(*g.model, ids);
  ASSERT_EQ(lg.size(), lq.size());
  for (size_t i = 0; i < lg.size(); ++i) ASSERT_EQ(lg[i], lq[i]) << i;
  fs::remove_all(dir);
  fs::remove(path);
}

}  // namespace
}  // namespace osprey
