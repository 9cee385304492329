// The forward pass against Hugging Face transformers' own logits and greedy continuations for six
// tiny random checkpoints (tests/fixtures/hf-reference, see its README): prefill, incremental
// decoding through the KV cache, chunked prefill, and the same models converted to GGUF.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "../backend_cpu/isa_test.h"
#include "formats/safetensors.h"
#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/loader.h"

namespace osprey {
namespace {

namespace fs = std::filesystem;

const std::string kRoot = std::string(OSPREY_FIXTURES) + "/hf-reference/";

struct Reference {
  std::shared_ptr<safetensors::File> file;
  std::vector<int32_t> ids(const std::string& name) const {
    const Tensor t = file->tensor(*file->find(name));
    std::vector<int32_t> out;
    for (int64_t i = 0; i < t.numel(); ++i)
      out.push_back(static_cast<int32_t>(t.data<int64_t>()[i]));
    return out;
  }
  Tensor logits(int i) const { return file->tensor(*file->find("logits_" + std::to_string(i))); }
};

Reference reference(const std::string& model) {
  return {safetensors::File::open(kRoot + model + "/reference.safetensors")};
}

// max |ours - theirs| <= 1e-3 * max |theirs| (the fp32 criterion); `rel` loosens it.
void expect_logits_close(const std::vector<float>& ours, const Tensor& ref, double rel,
                         const std::string& what) {
  ASSERT_EQ(static_cast<int64_t>(ours.size()), ref.numel()) << what;
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref.data<float>()[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(ours[i]) - ref.data<float>()[i]));
  }
  EXPECT_LE(max_diff, rel * max_ref)
      << what << ": max |diff| " << max_diff << ", max |logit| " << max_ref;
}

class HfReference : public ::testing::TestWithParam<std::string> {};

// The fp32 criterion (1e-3), and its bf16 one (1e-2) where the kernels in use round the
// activations to bf16 before they meet bf16 weights (the AVX-512 ones: see HfReferenceAvx512).
double tolerance(const LoadedModel& m) {
  return m.model->config().dtype == DType::BF16 && cpu::uses_avx512_dots(cpu::active_isa()) ? 1e-2
                                                                                            : 1e-3;
}

TEST_P(HfReference, PrefillLogitsMatchTransformers) {
  LoadedModel m = load_model(kRoot + GetParam(), {.progress = false});
  Reference ref = reference(GetParam());
  for (int i = 0; i < 4; ++i) {
    const auto ids = ref.ids("input_ids_" + std::to_string(i));
    expect_logits_close(prompt_logits(*m.model, ids, false), ref.logits(i), tolerance(m),
                        GetParam() + " sequence " + std::to_string(i));
  }
}

TEST_P(HfReference, WeightsLeftAsStoredGiveTheSameLogits) {
  // --no-repack: the row-major kernels over the mapped file, not the panels in huge pages.
  LoadedModel m = load_model(kRoot + GetParam(), {.progress = false, .repack_weights = false});
  Reference ref = reference(GetParam());
  for (int i = 0; i < 4; ++i) {
    const auto ids = ref.ids("input_ids_" + std::to_string(i));
    expect_logits_close(prompt_logits(*m.model, ids, false), ref.logits(i), 1e-3,
                        GetParam() + " sequence " + std::to_string(i) + " (not repacked)");
  }
}

// The AVX-512 kernels round the activations to bf16 before they meet bf16 weights: the issue's
// bf16 criterion (1e-2 relative), prefill and through the KV cache, and not the f32-activation
// logits bitwise (the rounding really happened).
using HfReferenceAvx512 = cpu::IsaTest;

TEST_P(HfReferenceAvx512, Bf16ActivationsStayCloseToTransformers) {
  LoadedModel m = load_model(kRoot + "llama-bf16", {.progress = false});
  Reference ref = reference("llama-bf16");
  const auto ids = ref.ids("input_ids_0");
  const auto prefill = prompt_logits(*m.model, ids, false);
  expect_logits_close(prefill, ref.logits(0), 1e-2, "llama-bf16 prefill");
  expect_logits_close(prompt_logits(*m.model, ids, true), ref.logits(0), 1e-2,
                      "llama-bf16 incremental");
  cpu::force_isa(cpu::Isa::kAvx2);
  const auto f32_acts = prompt_logits(*m.model, ids, false);
  EXPECT_NE(prefill, f32_acts);
}

INSTANTIATE_TEST_SUITE_P(Isa, HfReferenceAvx512,
                         ::testing::Values(cpu::Isa::kAvx512, cpu::Isa::kAvx512Emulated),
                         cpu::isa_param_name);

TEST_P(HfReference, IncrementalLogitsMatchTransformers) {
  LoadedModel m = load_model(kRoot + GetParam(), {.progress = false});
  Reference ref = reference(GetParam());
  for (int i = 0; i < 4; ++i) {
    const auto ids = ref.ids("input_ids_" + std::to_string(i));
    expect_logits_close(prompt_logits(*m.model, ids, true), ref.logits(i), tolerance(m),
                        GetParam() + " sequence " + std::to_string(i) + " (incremental)");
  }
}

// A cache of f16 or bf16 elements (--kv-cache-dtype) rounds every stored key and value: the logits
// stay within the bf16 criterion (1e-2) in one pass and through the cache, and the
// rounding really happened (not bitwise the f32 cache's logits).
TEST_P(HfReference, HalfPrecisionKvCachesStayClose) {
  LoadedModel m = load_model(kRoot + GetParam(), {.progress = false});
  Reference ref = reference(GetParam());
  const auto ids = ref.ids("input_ids_1");
  const auto f32 = prompt_logits(*m.model, ids, true, DType::F32);
  for (DType kv : {DType::F16, DType::BF16}) {
    const std::string what = GetParam() + " kv " + std::string(dtype_name(kv));
    expect_logits_close(prompt_logits(*m.model, ids, false, kv), ref.logits(1), 1e-2, what);
    const auto incremental = prompt_logits(*m.model, ids, true, kv);
    expect_logits_close(incremental, ref.logits(1), 1e-2, what + " incremental");
    EXPECT_NE(incremental, f32) << what;
  }
}

TEST_P(HfReference, GreedyContinuationMatchesTransformers) {
  LoadedModel m = load_model(kRoot + GetParam(), {.progress = false});
  if (m.model->config().tie_word_embeddings) {
    GTEST_SKIP()
        << "tied random models repeat one token; their logits are the test (fixture README)";
  }
  if (m.model->config().dtype != DType::F32) GTEST_SKIP() << "greedy ids are compared in fp32 only";
  Reference ref = reference(GetParam());
  for (int j = 0; j < 2; ++j) {
    const auto prompt = ref.ids("gen_prompt_" + std::to_string(j));
    const auto expected = ref.ids("gen_output_" + std::to_string(j));
    for (int64_t chunk : {0, 5}) {
      GreedyResult r = greedy_generate(
          *m.model, prompt,
          {.max_tokens = static_cast<int64_t>(expected.size()),
           .ignore_eos = true,
           // transformers made these with EOS suppressed (it never appears in them).
           .min_tokens = static_cast<int64_t>(expected.size()),
           .stop_token_ids = {},
           .prefill_chunk = chunk});
      EXPECT_EQ(r.token_ids, expected) << GetParam() << " prompt " << j << " chunk " << chunk;
    }
  }
}

TEST_P(HfReference, GgufTwinGivesTheSameLogits) {
  const std::string folder = kRoot + GetParam();
  const std::string gguf = ::testing::TempDir() + "/" + GetParam() + ".gguf";
  const ModelConfig c = load_config(folder);
  export_gguf(c, *open_safetensors_weights(folder), gguf, {});
  LoadedModel hf = load_model(folder, {.progress = false});
  LoadedModel gg = load_model(gguf, {.progress = false});
  EXPECT_EQ(gg.format, "gguf");
  Reference ref = reference(GetParam());
  for (int i = 0; i < 4; ++i) {
    const auto ids = ref.ids("input_ids_" + std::to_string(i));
    const auto a = prompt_logits(*hf.model, ids);
    const auto b = prompt_logits(*gg.model, ids);
    expect_logits_close(b, ref.logits(i), tolerance(gg),
                        GetParam() + " (gguf) sequence " + std::to_string(i));
    double max_diff = 0;
    for (size_t k = 0; k < a.size(); ++k)
      max_diff = std::max(max_diff, std::fabs(double(a[k]) - b[k]));
    EXPECT_LE(max_diff, 1e-4) << "GGUF twin differs from safetensors";
  }
  fs::remove(gguf);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfReference,
                         ::testing::Values("llama-f32", "llama-bf16", "llama3rope-f32", "qwen2-f32",
                                           "qwen3-f32", "mistral-swa-f32"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace osprey
