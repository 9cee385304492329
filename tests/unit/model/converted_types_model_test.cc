// GGUF files in the ggml types Osprey reads but has no kernels for (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q5_K, IQ4_NL) load with those matrices in types it computes with (Q8_0, or Q6_K for Q3_K), and
// the model computes what the same model with the values dequantized to f32 computes, within the
// error of Q8_0 weights and int8 activations. A type Osprey cannot read (IQ2_XXS) is refused naming
// the type. The blocks are random bytes with sane scales (Osprey has no quantizer for these types;
// their dequantization is checked against gguf-py in tests/unit/quant).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "core/error.h"
#include "formats/ggml_dequant.h"
#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/gguf_names.h"
#include "model/loader.h"
#include "model/random_model.h"
#include "test_util.h"

namespace osprey {
namespace {

namespace fs = std::filesystem;
using gguf::GgmlType;

// Random blocks of `type` whose f16 scales (at the given byte offsets) are set to sane values.
std::vector<uint8_t> random_blocks(GgmlType type, int64_t numel, std::mt19937& rng) {
  const auto* info = gguf::ggml_type_info(static_cast<uint32_t>(type));
  std::vector<uint8_t> b(numel / info->block_elems * info->block_bytes);
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  struct Scale {
    int offset;
    float value;
  };
  std::vector<Scale> scales;
  switch (type) {
    case GgmlType::Q4_1:
      scales = {{0, 4e-3f}, {2, -0.03f}};
      break;
    case GgmlType::Q5_0:
      scales = {{0, 2e-3f}};
      break;
    case GgmlType::Q5_1:
      scales = {{0, 2e-3f}, {2, -0.03f}};
      break;
    case GgmlType::IQ4_NL:
      scales = {{0, 2e-4f}};
      break;
    case GgmlType::Q2_K:
      scales = {{80, 1e-3f}, {82, 1e-3f}};
      break;
    case GgmlType::Q3_K:
      scales = {{108, 2e-4f}};
      break;
    case GgmlType::Q5_K:
      scales = {{0, 2e-5f}, {2, 3e-4f}};
      break;
    default:
      ADD_FAILURE() << "no scales for this type";
  }
  for (size_t blk = 0; blk < b.size(); blk += info->block_bytes) {
    for (const auto& s : scales) {
      const uint16_t h = f32_to_f16(s.value);
      std::memcpy(&b[blk + s.offset], &h, 2);
    }
  }
  return b;
}

// A block-aligned random model as an f32 GGUF at TempDir()/name.gguf (its folder removed).
std::string write_f32_gguf(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  const ModelConfig c = testing::write_block_aligned_model(dir);
  const std::string path = dir + ".gguf";
  export_gguf(c, *open_safetensors_weights(dir), path,
              {.matrix_dtype = DType::F32, .name = "", .tokenizer = {}});
  fs::remove_all(dir);
  return path;
}

struct Files {
  std::string converted, reference;
  std::map<std::string, GgmlType> types;  // Hugging Face name -> ggml type of each matrix
};

// `f32_gguf`'s model with each matrix replaced by random blocks of the next of `types`, written as
// those blocks (converted) and as their f32 values (reference).
Files write_variants(const std::string& f32_gguf, const std::vector<GgmlType>& types) {
  const auto src = gguf::File::open(f32_gguf);
  gguf::Writer conv, ref;
  for (const auto& [k, v] : src->metadata()) {
    conv.set(k, v);
    ref.set(k, v);
  }
  std::mt19937 rng(3);
  std::vector<std::shared_ptr<std::vector<uint8_t>>> keep;
  size_t next = 0;
  std::map<std::string, GgmlType> types_of;
  for (const auto& t : src->tensors()) {
    const bool matrix = t.shape.size() == 2 && t.name != "token_embd.weight";
    if (!matrix) {
      conv.add_tensor(t.name, src->tensor(t));
      ref.add_tensor(t.name, src->tensor(t));
      continue;
    }
    const GgmlType type = types[next++ % types.size()];
    const int64_t n = shape_numel(t.shape);
    auto blocks = std::make_shared<std::vector<uint8_t>>(random_blocks(type, n, rng));
    conv.add_tensor_bytes(t.name, type, t.shape, *blocks);
    types_of[*gguf_names::to_hf(t.name)] = type;
    Tensor values = Tensor::zeros(DType::F32, t.shape);
    gguf::dequantize_ggml_row(type, blocks->data(), values.data<float>(), n);
    ref.add_tensor(t.name, values);
    keep.push_back(blocks);
  }
  Files out{f32_gguf + ".converted.gguf", f32_gguf + ".reference.gguf", types_of};
  conv.write(out.converted);
  ref.write(out.reference);
  return out;
}

TEST(ConvertedTypesModel, LoadsAsComputableTypesAndComputesTheirValues) {
  const std::string f32 = write_f32_gguf("converted-types");
  const Files files =
      write_variants(f32, {GgmlType::Q5_K, GgmlType::Q3_K, GgmlType::IQ4_NL, GgmlType::Q4_1,
                           GgmlType::Q5_0, GgmlType::Q2_K, GgmlType::Q5_1});
  LoadedModel conv = load_model(files.converted, {.progress = false});
  LoadedModel ref = load_model(files.reference, {.progress = false});
  ASSERT_EQ(files.types.size(), 15u);  // 7 matrices in each of 2 layers, and lm_head
  for (const auto& [name, type] : files.types) {
    EXPECT_EQ(conv.model->weights().find(name)->dtype(),
              gguf::exact_computable_dtype(type).value_or(DType::Q8_0))
        << name;
  }
  const std::vector<int32_t> ids = {1, 7, 250, 42, 299, 3, 3, 100};
  const auto lc = prompt_logits(*conv.model, ids), lr = prompt_logits(*ref.model, ids);
  ASSERT_EQ(lc.size(), lr.size());
  const double rel = testing::relative_rms_error(lc, lr);
  RecordProperty("relative_rms_error", std::to_string(rel));
  EXPECT_LT(rel, 0.03) << "Q8_0 weights and int8 activations against f32, same values";
  EXPECT_GT(rel, 1e-5) << "the converted path was not taken";
  for (const auto& p : {f32, files.converted, files.reference}) fs::remove(p);
}

TEST(ConvertedTypesModel, TypeWithoutDequantizerIsRefusedByName) {
  const std::string f32 = write_f32_gguf("iq2-model");
  const auto src = gguf::File::open(f32);
  gguf::Writer w;
  for (const auto& [k, v] : src->metadata()) w.set(k, v);
  std::vector<uint8_t> iq2;
  for (const auto& t : src->tensors()) {
    if (t.name == "blk.0.ffn_up.weight") {
      const auto* info = gguf::ggml_type_info(static_cast<uint32_t>(GgmlType::IQ2_XXS));
      iq2.assign(shape_numel(t.shape) / info->block_elems * info->block_bytes, 0);
      w.add_tensor_bytes(t.name, GgmlType::IQ2_XXS, t.shape, iq2);
    } else {
      w.add_tensor(t.name, src->tensor(t));
    }
  }
  const std::string path = f32 + ".iq2.gguf";
  w.write(path);
  try {
    load_model(path, {.progress = false});
    ADD_FAILURE() << "loaded a model with an IQ2_XXS tensor";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("IQ2_XXS"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("blk.0.ffn_up.weight"), std::string::npos) << e.what();
  }
  fs::remove(f32);
  fs::remove(path);
}

}  // namespace
}  // namespace osprey
