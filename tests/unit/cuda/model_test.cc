// CudaModel end to end: the six transformers fixtures (prefill, decode through graphs, batched),
// greedy decoding against the CPU backend on a TinyLlama-structured random model, and the
// does-not-fit error.
#include <gtest/gtest.h>

#if OSPREY_HAVE_CUDA
#include <cstdlib>
#include <filesystem>

#include "backend/cuda/cuda_model.h"
#include "core/error.h"
#include "cuda_test_util.h"
#include "formats/safetensors.h"
#include "model/generate.h"
#include "model/loader.h"
#include "model/random_model.h"

namespace osprey::cuda::test {
namespace {

const std::string kRoot = std::string(OSPREY_FIXTURES) + "/hf-reference/";

std::vector<int32_t> ids_of(const safetensors::File& f, const std::string& name) {
  const Tensor t = f.tensor(*f.find(name));
  std::vector<int32_t> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(static_cast<int32_t>(t.data<int64_t>()[i]));
  return out;
}

std::vector<float> rows_of(const std::vector<float>& all, int64_t first, int64_t n, int64_t V) {
  return {all.begin() + first * V, all.begin() + (first + n) * V};
}

CudaModelOptions small_options(bool bf16) {
  CudaModelOptions o;
  o.bf16 = bf16;
  o.max_batch_tokens = 256;
  o.max_seqs = 8;
  o.max_seq_len = 512;
  o.num_blocks = 160;
  return o;
}

struct Fixture {
  std::string model;
  bool bf16;
};

class CudaFixtures : public ::testing::TestWithParam<Fixture> {};

// max |ours - transformers| <= tol * max |transformers|, per sequence: prefill (all logits), one
// token at a time (decode graphs), and all sequences batched (prefill, then decode steps of
// shrinking batches).
TEST_P(CudaFixtures, LogitsMatchTransformers) {
  OSPREY_REQUIRE_GPU();
  const Fixture fx = GetParam();
  LoadedModel m = load_model(kRoot + fx.model, {.progress = false});
  auto ref = safetensors::File::open(kRoot + fx.model + "/reference.safetensors");
  CudaModel g(m.model->config(), m.model->weights(), small_options(fx.bf16));
  const int64_t V = m.model->config().vocab_size;
  const double tol = fx.bf16 ? 2e-2 : 1e-3;
  BlockAllocator alloc(g.num_blocks());
  std::vector<std::vector<int32_t>> prompts, blocks;
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 4; ++i) {
    prompts.push_back(ids_of(*ref, "input_ids_" + std::to_string(i)));
    const Tensor t = ref->tensor(*ref->find("logits_" + std::to_string(i)));
    want.emplace_back(t.data<float>(), t.data<float>() + t.numel());
    blocks.push_back(alloc.allocate((int64_t(prompts[i].size()) + 15) / 16));
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t n = int64_t(prompts[i].size());
    CudaBatch b;
    b.tokens = prompts[i];
    b.seqs = {{0, n, blocks[i], true}};
    std::vector<float> out(n * V);
    g.forward(b, out.data());
    EXPECT_LE(rel_err(out, want[i]), tol) << fx.model << " seq " << i << " prefill";
    for (int64_t p = 0; p < n; ++p) {
      CudaBatch d;
      d.tokens = {prompts[i][p]};
      d.seqs = {{p, 1, blocks[i], false}};
      g.forward(d, out.data() + p * V);
    }
    EXPECT_LE(rel_err(out, want[i]), tol) << fx.model << " seq " << i << " incremental";
  }
  // Batched: the first 3 tokens of every prompt in one prefill, then decode steps over the rest.
  CudaBatch b;
  int64_t rows = 0;
  for (int i = 0; i < 4; ++i) {
    const int64_t n = std::min<int64_t>(3, prompts[i].size());
    b.tokens.insert(b.tokens.end(), prompts[i].begin(), prompts[i].begin() + n);
    b.seqs.push_back({0, n, blocks[i], true});
    rows += n;
  }
  std::vector<float> out(rows * V);
  g.forward(b, out.data());
  int64_t r = 0;
  for (int i = 0; i < 4; ++i) {
    const int64_t n = b.seqs[i].num_tokens;
    EXPECT_LE(rel_err(rows_of(out, r, n, V), rows_of(want[i], 0, n, V)), tol)
        << "batched prefill " << i;
    r += n;
  }
  for (int64_t p = 3;; ++p) {
    CudaBatch d;
    std::vector<int> which;
    for (int i = 0; i < 4; ++i) {
      if (p >= int64_t(prompts[i].size())) continue;
      d.tokens.push_back(prompts[i][p]);
      d.seqs.push_back({p, 1, blocks[i], false});
      which.push_back(i);
    }
    if (which.empty()) break;
    std::vector<float> step(which.size() * V);
    g.forward(d, step.data());
    for (size_t k = 0; k < which.size(); ++k)
      EXPECT_LE(rel_err(rows_of(step, k, 1, V), rows_of(want[which[k]], p, 1, V)), tol)
          << "batched decode seq " << which[k] << " pos " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CudaFixtures,
    ::testing::Values(Fixture{"llama-f32", false}, Fixture{"llama-bf16", false},
                      Fixture{"llama3rope-f32", false}, Fixture{"qwen2-f32", false},
                      Fixture{"qwen3-f32", false}, Fixture{"mistral-swa-f32", false},
                      Fixture{"llama-f32", true}, Fixture{"llama-bf16", true},
                      Fixture{"llama3rope-f32", true}, Fixture{"qwen2-f32", true},
                      Fixture{"qwen3-f32", true}, Fixture{"mistral-swa-f32", true}),
    [](const auto& i) {
      std::string s = i.param.model + (i.param.bf16 ? "_bf16mode" : "_f32mode");
      std::replace(s.begin(), s.end(), '-', '_');
      return s;
    });

// TinyLlama's structure (GQA 8:1 with 64-dim heads, SwiGLU) at a size a test can afford.
ModelConfig tinyllama_like() {
  ModelConfig c = model_preset("tiny");
  c.vocab_size = 2048, c.hidden_size = 512, c.intermediate_size = 1408, c.num_layers = 4;
  c.num_heads = 8, c.num_kv_heads = 1, c.head_dim = 64;
  c.layer_window.assign(c.num_layers, 0);
  return c;
}

// Teacher-forced agreement: the GPU's greedy pick after each CPU token, for several sequences
// decoded together; a single flip does not cascade into the rest of the comparison.
// With `stream`, the GEMMs are tuned with the streaming kernel forced wherever it agrees with
// cuBLAS (decode batches of 2 to 8 rows: its tiles, split K and SwiGLU epilogue).
void expect_greedy_agreement(bool bf16, bool stream = false) {
  const std::string dir = ::testing::TempDir() + "/osprey-cuda-tinyllama";
  write_random_hf_model(tinyllama_like(), DType::BF16, 11, dir);
  LoadedModel cpu = load_model(dir, {.progress = false});
  CudaModel g(cpu.model->config(), cpu.model->weights(), small_options(bf16));
  if (stream) {
    ::setenv("OSPREY_CUDA_STREAM_GEMM", "force", 1);
    const CudaModel::GemmTuning t = g.tune_gemms();
    ::unsetenv("OSPREY_CUDA_STREAM_GEMM");
    EXPECT_GT(t.stream_shapes, 0);
  }
  BlockAllocator alloc(g.num_blocks());
  std::mt19937 rng(5);
  const int kSeqs = 3, kNew = 40;
  std::vector<std::vector<int32_t>> prompts, expected, blocks;
  for (int s = 0; s < kSeqs; ++s) {
    std::vector<int32_t> p(9 + 7 * s);
    for (auto& t : p) t = int32_t(rng() % 2048);
    GreedyResult r = greedy_generate(*cpu.model, p,
                                     {.max_tokens = kNew,
                                      .ignore_eos = true,
                                      .min_tokens = 0,
                                      .stop_token_ids = {},
                                      .prefill_chunk = 0});
    prompts.push_back(p), expected.push_back(r.token_ids);
    blocks.push_back(alloc.allocate((int64_t(p.size()) + kNew + 15) / 16));
  }
  CudaBatch pre;
  for (int s = 0; s < kSeqs; ++s) {
    pre.tokens.insert(pre.tokens.end(), prompts[s].begin(), prompts[s].end());
    pre.seqs.push_back({0, int64_t(prompts[s].size()), blocks[s], false});
  }
  std::vector<int32_t> ids(kSeqs);
  g.greedy_step(pre, ids.data());
  int agree = 0, total = 0;
  for (int k = 0; k < kNew; ++k) {
    for (int s = 0; s < kSeqs; ++s) agree += ids[s] == expected[s][k], ++total;
    if (k + 1 == kNew) break;
    CudaBatch d;
    for (int s = 0; s < kSeqs; ++s) {
      d.tokens.push_back(expected[s][k]);
      d.seqs.push_back({int64_t(prompts[s].size()) + k, 1, blocks[s], false});
    }
    g.greedy_step(d, ids.data());
  }
  EXPECT_GE(agree, 0.95 * total) << agree << " of " << total << " greedy tokens agree";
  // Batch 1 (the GEMV path in bf16) on the first sequence alone.
  CudaBatch one;
  one.tokens = prompts[0];
  one.seqs = {{0, int64_t(prompts[0].size()), blocks[0], false}};
  g.greedy_step(one, ids.data());
  agree = ids[0] == expected[0][0];
  for (int k = 0; k + 1 < kNew; ++k) {
    CudaBatch d;
    d.tokens = {expected[0][k]};
    d.seqs = {{int64_t(prompts[0].size()) + k, 1, blocks[0], false}};
    g.greedy_step(d, ids.data());
    agree += ids[0] == expected[0][k + 1];
  }
  EXPECT_GE(agree, 0.95 * kNew) << agree << " of " << kNew << " batch-1 greedy tokens agree";
  std::filesystem::remove_all(dir);
}

TEST(CudaGreedy, Bf16AgreesWithCpu) {
  OSPREY_REQUIRE_GPU();
  expect_greedy_agreement(true);
}

TEST(CudaGreedy, Bf16WithStreamingGemmAgreesWithCpu) {
  OSPREY_REQUIRE_GPU();
  expect_greedy_agreement(true, true);
}

TEST(CudaGreedy, F32AgreesWithCpu) {
  OSPREY_REQUIRE_GPU();
  expect_greedy_agreement(false);
}

TEST(CudaModelErrors, TooLargeModelNamesTheLayer) {
  OSPREY_REQUIRE_GPU();
  ModelConfig c = model_preset("llama-3.2-1b");
  c.num_layers = 4000;  // ~480 GB of bf16 weights
  c.layer_window.assign(c.num_layers, 0);
  try {
    CudaModel::random(c, 1, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer"), std::string::npos) << e.what();
  }
}

TEST(CudaModelErrors, BadBatchesAreRejected) {
  OSPREY_REQUIRE_GPU();
  CudaModel g(load_config(kRoot + "llama-f32"), *open_safetensors_weights(kRoot + "llama-f32"),
              small_options(true));
  const std::vector<int32_t> blocks = {1};
  CudaBatch b;
  b.tokens = {1, 2};
  b.seqs = {{0, 1, blocks, false}};  // covers one token of two
  std::vector<float> out(1024);
  EXPECT_THROW(g.forward(b, out.data()), Error);
  b.seqs = {{0, 2, {}, false}};  // no blocks
  EXPECT_THROW(g.forward(b, out.data()), Error);
}

}  // namespace
}  // namespace osprey::cuda::test
#endif
