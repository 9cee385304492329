// The engine on device "cuda": the same scheduler, KV manager and sampling as on the CPU, with the
// CUDA runner underneath. Greedy tokens are compared with the CPU engine teacher-forced (each GPU
// pick after the CPU's own prefix), so that one near-tie does not cascade through the comparison;
// the decode path (CUDA graphs) is checked against the GPU's own prefill the same way.
#if OSPREY_HAVE_CUDA
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "cuda_test_util.h"
#include "model/random_model.h"
#include "osprey/engine.h"
#include "osprey/llm.h"

namespace osprey::cuda {
namespace {

// TinyLlama's structure (GQA 8:1, 64-dim heads, SwiGLU) at a size a test can afford.
std::string tiny_model_dir() {
  static const std::string dir = [] {
    ModelConfig c = model_preset("tiny");
    c.vocab_size = 2048, c.hidden_size = 512, c.intermediate_size = 1408, c.num_layers = 4;
    c.num_heads = 8, c.num_kv_heads = 1, c.head_dim = 64;
    c.layer_window.assign(c.num_layers, 0);
    const std::string d = ::testing::TempDir() + "/osprey-cuda-engine-model";
    write_random_hf_model(c, DType::BF16, 23, d);
    return d;
  }();
  return dir;
}

EngineConfig engine_config(const std::string& device) {
  EngineConfig c;
  c.model = tiny_model_dir();
  c.device = device;
  c.progress = false;
  c.max_model_len = 512;
  c.max_num_seqs = 16;
  c.max_num_batched_tokens = 256;
  if (device == "cpu") c.kv_cache_memory = 64 << 20;
  c.gpu_memory_utilization = 0.5;
  return c;
}

SamplingParams greedy(int64_t max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

std::vector<std::vector<int32_t>> random_prompts(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> p(5 + 11 * i);
    for (auto& t : p) t = int32_t(rng() % 2048);
    out.push_back(p);
  }
  return out;
}

std::vector<std::vector<int32_t>> run(LLM& llm, const std::vector<std::vector<int32_t>>& prompts,
                                      const SamplingParams& p) {
  std::vector<Prompt> ps;
  for (const auto& t : prompts) ps.push_back({std::nullopt, t});
  std::vector<std::vector<int32_t>> out;
  for (const auto& o : llm.generate(ps, {p})) {
    EXPECT_TRUE(o.error.empty()) << o.error;
    out.push_back(o.outputs.at(0).token_ids);
  }
  return out;
}

// For each prompt and each k, the GPU's greedy pick after prompt + expected[0..k): one request
// each, all in one batch (prefix caching makes the shared prefixes cheap).
double teacher_forced_agreement(LLM& gpu, const std::vector<std::vector<int32_t>>& prompts,
                                const std::vector<std::vector<int32_t>>& expected) {
  std::vector<std::vector<int32_t>> forced;
  std::vector<int32_t> want;
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (size_t k = 0; k < expected[i].size(); ++k) {
      std::vector<int32_t> p = prompts[i];
      p.insert(p.end(), expected[i].begin(), expected[i].begin() + k);
      forced.push_back(p);
      want.push_back(expected[i][k]);
    }
  }
  const auto got = run(gpu, forced, greedy(1));
  int agree = 0;
  for (size_t i = 0; i < want.size(); ++i) agree += got[i].size() == 1 && got[i][0] == want[i];
  return double(agree) / double(want.size());
}

TEST(CudaEngine, WithoutAGpuTheDeviceIsAClearError) {
  if (gpu_available()) GTEST_SKIP() << "a GPU is present";
  try {
    LLMEngine e(engine_config("cuda"));
    FAIL() << "an engine on device cuda started without a GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("no usable GPU"), std::string::npos) << e.what();
  }
}

TEST(CudaEngine, RejectsOptionsTheKernelsCannotHonor) {
  OSPREY_REQUIRE_GPU();
  EngineConfig c = engine_config("cuda");
  c.block_size = 32;
  EXPECT_THROW(LLMEngine{c}, Error);
  c = engine_config("cuda");
  c.kv_cache_memory = 0.5;  // a fraction: GPU memory is sized by gpu_memory_utilization
  EXPECT_THROW(LLMEngine{c}, Error);
}

TEST(CudaEngine, GreedyAgreesWithTheCpuEngine) {
  OSPREY_REQUIRE_GPU();
  const auto prompts = random_prompts(8, 3);
  LLM cpu(engine_config("cpu"));
  const auto expected = run(cpu, prompts, greedy(24));
  LLM gpu(engine_config("cuda"));
  EXPECT_EQ(gpu.engine().config().device, "cuda");
  EXPECT_GE(teacher_forced_agreement(gpu, prompts, expected), 0.95);
}

TEST(CudaEngine, DecodeStepsAgreeWithPrefill) {
  OSPREY_REQUIRE_GPU();
  const auto prompts = random_prompts(12, 4);
  LLM gpu(engine_config("cuda"));
  const auto decoded = run(gpu, prompts, greedy(24));  // 12 sequences decoding together (graphs)
  for (const auto& d : decoded) ASSERT_EQ(d.size(), 24u);
  EXPECT_GE(teacher_forced_agreement(gpu, prompts, decoded), 0.95);
}

TEST(CudaEngine, ParallelSamplingCopiesSharedBlocks) {
  OSPREY_REQUIRE_GPU();
  // n = 2, greedy: both completions share the prompt's blocks, the partly filled last one copied
  // on the first write. A wrong copy would give the second completion a different history.
  LLM gpu(engine_config("cuda"));
  SamplingParams p = greedy(20);
  p.n = 2;
  const auto out = gpu.generate({{std::nullopt, random_prompts(3, 5)[2]}}, {p});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].outputs.size(), 2u);
  EXPECT_EQ(out[0].outputs[0].token_ids.size(), 20u);
  EXPECT_EQ(out[0].outputs[0].token_ids, out[0].outputs[1].token_ids);
}

TEST(CudaEngine, PreemptionUnderATinyCacheFinishesEveryRequest) {
  OSPREY_REQUIRE_GPU();
  EngineConfig c = engine_config("cuda");
  // 40 blocks of 16 positions (4 layers, 1 KV head of 64, bf16): fewer than 12 sequences of up to
  // 150 positions need, so the scheduler preempts and recomputes.
  c.kv_cache_memory = 40.0 * 4 * 2 * 16 * 64 * 2;
  LLM gpu(c);
  const auto prompts = random_prompts(12, 6);
  const auto out = run(gpu, prompts, greedy(24));
  for (const auto& o : out) EXPECT_EQ(o.size(), 24u);
  EXPECT_GT(gpu.engine().stats().num_preemptions, 0);
  EXPECT_GE(teacher_forced_agreement(gpu, prompts, out), 0.95);
}

TEST(CudaEngine, SeededSamplingRepeatsOnTheGpu) {
  OSPREY_REQUIRE_GPU();
  // Mixed batches (one sampled request among greedy ones) take the logits path.
  EngineConfig c = engine_config("cuda");
  c.enable_prefix_caching = false;  // the second run recomputes the prompts exactly as the first
  LLM gpu(c);
  SamplingParams s;
  s.temperature = 0.8f, s.top_p = 0.9f, s.seed = 42, s.max_tokens = 16, s.ignore_eos = true;
  const auto prompts = random_prompts(4, 7);
  std::vector<SamplingParams> ps = {s, greedy(16), greedy(16), greedy(16)};
  std::vector<Prompt> in;
  for (const auto& p : prompts) in.push_back({std::nullopt, p});
  const auto a = gpu.generate(in, ps);
  const auto b = gpu.generate(in, ps);
  EXPECT_EQ(a[0].outputs[0].token_ids.size(), 16u);
  EXPECT_EQ(a[0].outputs[0].token_ids, b[0].outputs[0].token_ids);
}

TEST(CudaEngine, GpuDrawsMatchHostDraws) {
  OSPREY_REQUIRE_GPU();
  // The same GPU logits drawn by kernels_sampling.cu and by the host samplers (sample_on_runner
  // off copies the logits back): seeded draws agree but for rounding at a boundary, and logprobs
  // agree closely. Prefix caching off: both runs compute the prompts the same way.
  EngineConfig c = engine_config("cuda");
  c.enable_prefix_caching = false;
  EngineConfig h = c;
  h.sample_on_runner = false;
  LLM gpu(c), host(h);
  SamplingParams p;
  p.temperature = 0.9f, p.top_k = 50, p.top_p = 0.95f, p.repetition_penalty = 1.1f;
  p.logprobs = 3, p.seed = 11, p.max_tokens = 8, p.ignore_eos = true;
  std::vector<Prompt> in;
  for (const auto& t : random_prompts(16, 8)) in.push_back({std::nullopt, t});
  const auto a = gpu.generate(in, {p});
  const auto b = host.generate(in, {p});
  int same = 0, total = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& x = a[i].outputs[0];
    const auto& y = b[i].outputs[0];
    ASSERT_EQ(x.token_ids.size(), 8u);
    ASSERT_EQ(x.logprobs.size(), 8u);
    for (size_t k = 0; k < 8 && x.token_ids[k] == y.token_ids[k]; ++k) {
      ++same;
      EXPECT_NEAR(x.logprobs[k].logprob, y.logprobs[k].logprob, 1e-4);
      ASSERT_EQ(x.logprobs[k].top.size(), 3u);
      EXPECT_EQ(x.logprobs[k].top[0].first, y.logprobs[k].top[0].first);
    }
    total += 8;
  }
  EXPECT_GE(same, 0.9 * total) << same << " of " << total << " tokens before the first difference";
}

}  // namespace
}  // namespace osprey::cuda
#endif
