// Quantization at load against Hugging Face transformers' f32 logits (tests/fixtures/hf-reference):
// the relative RMS error of the logits, the matrices really quantized, and the same model written
// to GGUF reading back to the same logits.
//
// The bound is llama.cpp's: tests/fixtures/hf-reference/llama-cpp-error.json holds the error of
// each fixture quantized by llama.cpp's own quantizer (llama_model_quantize of the f32 GGUF,
// embeddings kept as Osprey keeps them) and run by llama.cpp, measured by
// bench/llama_cpp_accuracy.cc. Osprey's quantization must be no further from transformers than
// that. (The Q8_0 <= 1% / 4-bit <= 12% is not reached on these 64-wide random models by
// llama.cpp either: 1.34-1.58% and 14.8-17.1%, and 1.70-1.99% / 15.3-20.0% with its default mix,
// which quantizes the embeddings too.) llama.cpp runs the "llama" GGUF of the Mistral fixture
// without its sliding window (47% off in f32); there the bound is llama.cpp's quantization of it as
// Osprey runs it (on the other fixtures Osprey's and llama.cpp's runtimes agree to 0.03% on the
// same file).
//
// The fixtures' down_proj rows are 176 wide, not whole 32-blocks, so they stay f32; no row here is
// a whole 256-block, so Q4_K/Q6_K are tested on llama.cpp's own tensors (tests/unit/quant) rather
// than here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/loader.h"

namespace osprey {
namespace {

const std::string kRoot = std::string(OSPREY_FIXTURES) + "/hf-reference/";

struct QuantCase {
  std::string model;
  DType type;
};

// llama.cpp's error on `model` quantized to `type` (see the top of this file).
double llama_cpp_bound(const std::string& model, DType type) {
  std::ifstream in(kRoot + "llama-cpp-error.json");
  const auto errors = nlohmann::json::parse(in).at("relative_rms_error");
  const auto& f32 = errors.at(model + "/F32");
  const auto& q = errors.at(model + "/" + std::string(dtype_name(type)));
  // llama.cpp does not compute this architecture as transformers does: its quantization, run by
  // Osprey.
  if (f32.at("llama_cpp_on_osprey").get<double>() > 0.01) return q.at("osprey_on_llama_cpp");
  return q.at("llama_cpp_own");
}

// sqrt(sum (ours - ref)^2 / sum ref^2) over the logits of all four reference sequences.
double relative_rms_error(TransformerModel& model, const std::string& name) {
  auto ref = safetensors::File::open(kRoot + name + "/reference.safetensors");
  double err = 0, norm = 0;
  for (int i = 0; i < 4; ++i) {
    const Tensor ids_t = ref->tensor(*ref->find("input_ids_" + std::to_string(i)));
    std::vector<int32_t> ids;
    for (int64_t j = 0; j < ids_t.numel(); ++j)
      ids.push_back(static_cast<int32_t>(ids_t.data<int64_t>()[j]));
    const Tensor want = ref->tensor(*ref->find("logits_" + std::to_string(i)));
    const auto got = prompt_logits(model, ids, false);
    EXPECT_EQ(static_cast<int64_t>(got.size()), want.numel());
    for (int64_t j = 0; j < want.numel(); ++j) {
      const double d = double{got[j]} - want.data<float>()[j];
      err += d * d;
      norm += double{want.data<float>()[j]} * want.data<float>()[j];
    }
  }
  return std::sqrt(err / norm);
}

using QuantizedReference = ::testing::TestWithParam<QuantCase>;

TEST_P(QuantizedReference, LogitsCloseToTransformers) {
  const auto& p = GetParam();
  LoadedModel m = load_model(kRoot + p.model, {.quantize = p.type, .progress = false});
  const auto& w = m.model->weights();
  EXPECT_EQ(w.find("model.layers.0.self_attn.q_proj.weight")->dtype(), p.type);
  EXPECT_EQ(w.find("model.layers.1.mlp.up_proj.weight")->dtype(), p.type);
  EXPECT_NE(w.find("model.embed_tokens.weight")->dtype(), p.type);  // embeddings stay as stored
  EXPECT_NE(w.find("model.layers.0.mlp.down_proj.weight")->dtype(),
            p.type);  // 176 is not whole blocks
  const double e = relative_rms_error(*m.model, p.model);
  const double bound = llama_cpp_bound(p.model, p.type);
  RecordProperty("relative_rms_error", std::to_string(e));
  RecordProperty("llama_cpp_relative_rms_error", std::to_string(bound));
  EXPECT_LE(e, bound) << p.model << " " << dtype_name(p.type);
  // Quantization did something: the error is not that of f32 weights (~1e-6).
  EXPECT_GE(e, bound / 100) << p.model << " " << dtype_name(p.type);
}

std::vector<QuantCase> cases() {
  std::vector<QuantCase> out;
  for (const char* m :
       {"llama-f32", "llama-bf16", "llama3rope-f32", "qwen2-f32", "qwen3-f32", "mistral-swa-f32"}) {
    out.push_back({m, DType::Q8_0});
    out.push_back({m, DType::Q4_0});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizedReference, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           std::string s =
                               info.param.model + "_" + std::string(dtype_name(info.param.type));
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(QuantizedGguf, ExportedQ4_0ModelGivesTheSameLogitsAsQuantizingAtLoad) {
  // llama-f32 has untied lm_head (Q8_0) and Q/K rows that GGUF permutes: every path is exercised.
  const std::string folder = kRoot + "llama-f32";
  const std::string path = ::testing::TempDir() + "/llama-f32-q4_0.gguf";
  const ModelConfig c = load_config(folder);
  export_gguf(c, *quantize_weights(open_safetensors_weights(folder), DType::Q4_0), path, {});
  LoadedModel a = load_model(folder, {.quantize = DType::Q4_0, .progress = false});
  LoadedModel b = load_model(path, {.progress = false});
  EXPECT_EQ(b.model->weights().find("model.layers.1.self_attn.k_proj.weight")->dtype(),
            DType::Q4_0);
  EXPECT_EQ(b.model->weights().find("lm_head.weight")->dtype(), DType::Q8_0);
  EXPECT_EQ(a.model->weight_bytes(), b.model->weight_bytes());
  const std::vector<int32_t> ids = {1, 17, 300, 42, 9, 250};
  const auto la = prompt_logits(*a.model, ids), lb = prompt_logits(*b.model, ids);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]) << i;  // the same blocks, bitwise
  std::filesystem::remove(path);
}

// --quantize q4_k: projections Q4_K, the output layer Q6_K, rows that are not whole super-blocks
// of 256 Q8_0 (as llama.cpp falls back), embeddings as stored.
TEST(QuantizedGguf, KQuantTypesPerTensor) {
  EXPECT_EQ(parse_quantize_type("Q4_K"), DType::Q4_K);
  EXPECT_EQ(parse_quantize_type("q6_k"), DType::Q6_K);
  const Tensor wide = Tensor::zeros(DType::F32, {8, 512}),
               narrow = Tensor::zeros(DType::F32, {8, 96});
  EXPECT_EQ(quantized_dtype_for("model.layers.0.mlp.up_proj.weight", wide, DType::Q4_K),
            DType::Q4_K);
  EXPECT_EQ(quantized_dtype_for("lm_head.weight", wide, DType::Q4_K), DType::Q6_K);
  EXPECT_EQ(quantized_dtype_for("lm_head.weight", wide, DType::Q6_K), DType::Q6_K);
  EXPECT_EQ(quantized_dtype_for("model.layers.0.mlp.up_proj.weight", narrow, DType::Q4_K),
            DType::Q8_0);
  EXPECT_EQ(quantized_dtype_for("model.embed_tokens.weight", wide, DType::Q4_K), std::nullopt);
}

TEST(QuantizedGguf, UnknownQuantizationIsAnInputError) {
  EXPECT_EQ(parse_quantize_type(""), std::nullopt);
  EXPECT_EQ(parse_quantize_type("Q8_0"), DType::Q8_0);
  try {
    parse_quantize_type("q3_k");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("q3_k"), std::string::npos);
  }
}

}  // namespace
}  // namespace osprey
