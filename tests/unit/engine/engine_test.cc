// The engine end to end on tiny f32 checkpoints: transformers' greedy continuations through paged
// attention and chunked prefill; batch invariance (every request's greedy output equals its output
// alone, with prefix caching on or off, any chunk size, forced preemption); n > 1; aborts.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/kv_sizing.h"
#include "engine/model_runner.h"
#include "formats/safetensors.h"
#include "model/generate.h"
#include "model/loader.h"
#include "osprey/engine.h"
#include "osprey/llm.h"

namespace osprey {
namespace {

const std::string kRoot = std::string(OSPREY_FIXTURES) + "/hf-reference/";

std::vector<int32_t> ref_ids(const std::string& model, const std::string& name) {
  auto f = safetensors::File::open(kRoot + model + "/reference.safetensors");
  const Tensor t = f->tensor(*f->find(name));
  std::vector<int32_t> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(static_cast<int32_t>(t.data<int64_t>()[i]));
  return out;
}

std::vector<int32_t> greedy_alone(TransformerModel& m, const std::vector<int32_t>& prompt,
                                  int64_t n) {
  GreedyOptions o;
  o.max_tokens = n;
  o.ignore_eos = true;
  return greedy_generate(m, prompt, o).token_ids;
}

SamplingParams greedy(int64_t max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

EngineConfig small_engine(const std::string& model) {
  EngineConfig c;
  c.model = kRoot + model;
  c.progress = false;
  c.kv_cache_memory = 8 << 20;
  return c;
}

TEST(Engine, KvCacheDtypeFollowsTheCheckpointUnlessAsked) {
  ModelConfig f32, bf16;
  f32.dtype = DType::F32;
  bf16.dtype = DType::BF16;
  EngineConfig c;
  EXPECT_EQ(engine::kv_cache_dtype(c, f32), DType::F32);
  EXPECT_EQ(engine::kv_cache_dtype(c, bf16), DType::F16);
  for (auto [name, dt] :
       {std::pair{"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}}) {
    c.kv_cache_dtype = name;
    EXPECT_EQ(engine::kv_cache_dtype(c, f32), dt) << name;
  }
  c.kv_cache_dtype = "q8_0";
  EXPECT_THROW(engine::kv_cache_dtype(c, f32), Error);
}

// An f16 cache holds twice the blocks of an f32 one in the same memory.
TEST(Engine, F16KvCacheHoldsTwiceTheBlocks) {
  EngineConfig c = small_engine("llama-f32");
  const ModelConfig mc = load_config(c.model);
  const int32_t f32_blocks = engine::kv_cache_blocks(c, mc, 64);
  c.kv_cache_dtype = "f16";
  EXPECT_EQ(engine::kv_cache_blocks(c, mc, 64), 2 * f32_blocks);
}

TEST(Engine, MatchesTransformersGreedyThroughPagedAttention) {
  for (const std::string model : {"llama-f32", "mistral-swa-f32"}) {
    for (int64_t budget : {2048, 7}) {  // whole prompts, and chunks of 7 tokens
      EngineConfig c = small_engine(model);
      c.max_num_batched_tokens = budget;
      c.block_size = 4;
      LLM llm(c);
      std::vector<Prompt> prompts;
      std::vector<std::vector<int32_t>> expected;
      for (int j = 0; j < 2; ++j) {
        prompts.push_back({std::nullopt, ref_ids(model, "gen_prompt_" + std::to_string(j))});
        expected.push_back(ref_ids(model, "gen_output_" + std::to_string(j)));
      }
      SamplingParams p = greedy(24);
      p.min_tokens = 24;  // transformers generated these with EOS suppressed
      p.ignore_eos = false;
      const auto out = llm.generate(prompts, {p});
      for (int j = 0; j < 2; ++j) {
        ASSERT_TRUE(out[j].error.empty()) << out[j].error;
        EXPECT_EQ(out[j].outputs[0].token_ids, expected[j])
            << model << " budget " << budget << " prompt " << j;
      }
    }
  }
}

// A token of stop_token_ids ends a request with that token as its stop reason (vLLM reports the id,
// an integer, where a stop string gives the string and the model's EOS nothing).
TEST(Engine, StopTokenIdsReportTheToken) {
  LLM llm(small_engine("llama-f32"));
  const Prompt prompt{std::nullopt, ref_ids("llama-f32", "gen_prompt_0")};
  const auto free_run = llm.generate({prompt}, {greedy(12)});
  const std::vector<int32_t> ids = free_run[0].outputs[0].token_ids;
  ASSERT_EQ(ids.size(), 12u);
  SamplingParams p = greedy(12);
  p.stop_token_ids = {ids[4]};
  const auto stopped = llm.generate({prompt}, {p});
  const CompletionOutput& co = stopped[0].outputs[0];
  EXPECT_EQ(co.finish_reason, "stop");
  ASSERT_TRUE(co.stop_token_id.has_value());
  EXPECT_EQ(*co.stop_token_id, ids[4]);
  EXPECT_FALSE(co.stop_reason.has_value());
  const auto first = std::find(ids.begin(), ids.end(), ids[4]) - ids.begin();
  EXPECT_EQ(co.token_ids.size(),
            static_cast<size_t>(first + 1));  // the stop token is kept, as in vLLM
}

// Random prompts with shared prefixes, so prefix caching has something to find.
std::vector<Prompt> random_prompts(int count, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> prefixes(3);
  for (auto& p : prefixes) {
    p.resize(std::uniform_int_distribution<int>(5, 40)(rng));
    for (auto& t : p) t = std::uniform_int_distribution<int32_t>(3, vocab - 1)(rng);
  }
  std::vector<Prompt> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> ids = prefixes[rng() % 3];
    const int extra = std::uniform_int_distribution<int>(1, 30)(rng);
    for (int k = 0; k < extra; ++k)
      ids.push_back(std::uniform_int_distribution<int32_t>(3, vocab - 1)(rng));
    out.push_back({std::nullopt, ids});
  }
  return out;
}

struct Variant {
  std::string name;
  bool prefix_caching;
  int64_t budget;
  double kv_bytes;
  int max_num_seqs;
};

TEST(Engine, BatchInvariance) {
  const std::string model = "llama-f32";
  LoadedModel alone = load_model(kRoot + model, {.progress = false});
  const auto prompts = random_prompts(24, 1, 512);
  std::vector<std::vector<int32_t>> expected;
  for (const auto& p : prompts) {
    expected.push_back(greedy_alone(*alone.model, p.token_ids, 12));
  }
  // A block of 4 tokens of this model is 2 layers * 2 (K,V) * 4 * 32 floats = 2 KiB.
  const std::vector<Variant> variants = {
      {"default", true, 2048, 8 << 20, 64},    {"no-prefix-caching", false, 2048, 8 << 20, 64},
      {"chunks-of-5", true, 5, 8 << 20, 64},   {"chunks-of-1", false, 1, 8 << 20, 64},
      {"preemption", true, 16, 40 * 2048, 16},
  };
  for (const auto& v : variants) {
    EngineConfig c = small_engine(model);
    c.block_size = 4;
    c.enable_prefix_caching = v.prefix_caching;
    c.max_num_batched_tokens = v.budget;
    c.kv_cache_memory = v.kv_bytes;
    c.max_num_seqs = v.max_num_seqs;
    LLM llm(c);
    const auto out = llm.generate(prompts, {greedy(12)});
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSERT_TRUE(out[i].error.empty()) << v.name << ": " << out[i].error;
      EXPECT_EQ(out[i].outputs[0].token_ids, expected[i]) << v.name << " request " << i;
    }
    const EngineStats s = llm.engine().stats();
    EXPECT_EQ(s.kv_usage, 0.0) << v.name;
    if (v.name == "preemption") {
      EXPECT_GT(s.num_preemptions, 0);
    }
    if (v.prefix_caching && v.budget < 2048) {
      // Requests admitted over several steps find the shared prefixes earlier ones computed.
      EXPECT_GT(s.prefix_hits, 0) << v.name;
    }
  }
}

TEST(Engine, ParallelSamplingSharesThePrompt) {
  EngineConfig c = small_engine("llama-f32");
  c.block_size = 4;
  LLM llm(c);
  const auto prompt = ref_ids("llama-f32", "gen_prompt_1");
  SamplingParams p = greedy(10);
  p.n = 3;
  auto out = llm.generate({{std::nullopt, prompt}}, {p});
  ASSERT_EQ(out[0].outputs.size(), 3u);
  // Greedy: all three equal the single greedy continuation, although they diverge in blocks.
  for (const auto& c3 : out[0].outputs) EXPECT_EQ(c3.token_ids, out[0].outputs[0].token_ids);
  LoadedModel alone = load_model(kRoot + "llama-f32", {.progress = false});
  EXPECT_EQ(out[0].outputs[0].token_ids, greedy_alone(*alone.model, prompt, 10));
  // Sampled with a seed: completions differ from each other, and the same seed repeats them.
  p.temperature = 1.0f;
  p.seed = 42;
  auto a = llm.generate({{std::nullopt, prompt}}, {p});
  auto b = llm.generate({{std::nullopt, prompt}}, {p});
  EXPECT_NE(a[0].outputs[0].token_ids, a[0].outputs[1].token_ids);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a[0].outputs[i].token_ids, b[0].outputs[i].token_ids);
  EXPECT_EQ(llm.engine().stats().kv_usage, 0.0);
}

TEST(Engine, SeededSamplingDoesNotDependOnTheBatch) {
  EngineConfig c = small_engine("llama-f32");
  LLM llm(c);
  auto prompts = random_prompts(6, 2, 512);
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.max_tokens = 10;
  p.ignore_eos = true;
  p.seed = 7;
  auto together = llm.generate(prompts, {p});
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto alone = llm.generate({prompts[i]}, {p});
    EXPECT_EQ(alone[0].outputs[0].token_ids, together[i].outputs[0].token_ids) << i;
  }
}

TEST(Engine, RejectsBadRequestsClearly) {
  LLMEngine e(small_engine("llama-f32"));
  EXPECT_THROW(e.add_request("a", {std::nullopt, {}}, greedy(4)), Error);          // empty
  EXPECT_THROW(e.add_request("b", {std::nullopt, {1, 9999}}, greedy(4)), Error);   // outside vocab
  EXPECT_THROW(e.add_request("c", {std::string("hello"), {}}, greedy(4)), Error);  // no tokenizer
  std::vector<int32_t> long_prompt(1024, 5);
  EXPECT_THROW(e.add_request("d", {std::nullopt, long_prompt}, greedy(4)), Error);  // > context
  SamplingParams bad = greedy(4);
  bad.top_p = 1.5f;
  EXPECT_THROW(e.add_request("e", {std::nullopt, {1, 2}}, bad), Error);
  e.add_request("f", {std::nullopt, {1, 2}}, greedy(4));
  EXPECT_THROW(e.add_request("f", {std::nullopt, {1, 2}}, greedy(4)), Error);  // duplicate id
  while (e.has_unfinished()) e.step();
}

// Starting an engine on `device` fails with an error of `kind` whose message contains `text`.
void expect_start_error(const std::string& device, ErrorKind kind, const std::string& text) {
  EngineConfig c = small_engine("llama-f32");
  c.device = device;
  try {
    LLMEngine e(c);
    FAIL() << "device " << device << " was accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), kind);
    EXPECT_NE(std::string(err.what()).find(text), std::string::npos) << err.what();
  }
}

TEST(Engine, DevicesAreCheckedAtStart) {
  expect_start_error("tpu", ErrorKind::kInvalidInput, "unknown device 'tpu'");
#ifndef OSPREY_HAVE_CUDA
  expect_start_error("cuda", ErrorKind::kUnsupported, "no CUDA backend");
#endif
}

TEST(Engine, StepLimitsDefaultByDevice) {
  LLMEngine e(small_engine("llama-f32"));
  EXPECT_EQ(e.config().max_num_batched_tokens, 512);
  EXPECT_EQ(e.config().max_num_seqs, 64);
  // What a GPU engine would start with (resolved without a GPU), and explicit values kept.
  EngineConfig gpu;
  gpu.device = "cuda";
  EXPECT_EQ(resolve_backend_defaults(gpu).max_num_batched_tokens, 8192);
  EXPECT_EQ(resolve_backend_defaults(gpu).max_num_seqs, 256);
  gpu.max_num_batched_tokens = 1024;
  EXPECT_EQ(resolve_backend_defaults(gpu).max_num_batched_tokens, 1024);
}

// The runner draws where the logits are (on a GPU) from each sampler's RowDraw and logit edits;
// with sample_on_runner off every host sampler draws itself. With the same seeds both must give
// the same tokens and logprobs, greedy, truncated, and with every processor.
TEST(Engine, RunnerDrawsMatchTheSampler) {
  EngineConfig on_host = small_engine("llama-f32");
  on_host.sample_on_runner = false;
  LLM runner(small_engine("llama-f32")), host(on_host);
  const std::vector<int32_t> prompt = ref_ids("llama-f32", "gen_prompt_0");
  SamplingParams sampled = greedy(12);
  sampled.temperature = 1.3f, sampled.seed = 7;
  SamplingParams truncated = sampled;
  truncated.top_k = 20, truncated.top_p = 0.9f, truncated.min_p = 0.02f;
  // The processors as logit edits: penalties over prompt and output, a bias, and stop ids masked
  // until min_tokens (the fixture model's EOS and an extra stop id, both favored by the bias).
  SamplingParams processed = truncated;
  processed.repetition_penalty = 1.4f, processed.frequency_penalty = 0.6f;
  processed.presence_penalty = 0.4f;
  processed.logit_bias = {{prompt[0], 4.0f}, {prompt[1], -3.0f}, {7, 6.0f}};
  processed.stop_token_ids = {7};
  processed.min_tokens = 6;
  SamplingParams greedy_processed = processed;
  greedy_processed.temperature = 0;
  SamplingParams with_logprobs = processed;
  with_logprobs.logprobs = 5;
  SamplingParams chosen_logprob = greedy_processed;
  chosen_logprob.logprobs = 0;
  for (const SamplingParams& p : {greedy(12), sampled, truncated, processed, greedy_processed,
                                  with_logprobs, chosen_logprob}) {
    const auto a = runner.generate({{std::nullopt, prompt}}, {p})[0].outputs[0];
    const auto b = host.generate({{std::nullopt, prompt}}, {p})[0].outputs[0];
    ASSERT_GE(a.token_ids.size(), 6u);
    EXPECT_EQ(a.token_ids, b.token_ids) << p.temperature << " " << p.repetition_penalty;
    ASSERT_EQ(a.logprobs.size(), p.logprobs ? a.token_ids.size() : 0u);
    ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
    for (size_t i = 0; i < a.logprobs.size(); ++i) {
      EXPECT_EQ(a.logprobs[i].token, b.logprobs[i].token);
      EXPECT_EQ(a.logprobs[i].logprob, b.logprobs[i].logprob);
      EXPECT_EQ(a.logprobs[i].top, b.logprobs[i].top);
      EXPECT_EQ(a.logprobs[i].top.size(), static_cast<size_t>(*p.logprobs));
    }
  }
}

// The three output kinds tell the same story: delta outputs add up to the cumulative ones, and a
// final-only request reports once, with everything. (This model has no tokenizer: the demo model's
// test compares delta and cumulative text.)
TEST(Engine, OutputKindsAgree) {
  LLMEngine e(small_engine("llama-f32"));
  SamplingParams p;
  p.temperature = 0.8f, p.seed = 5, p.max_tokens = 9, p.ignore_eos = true, p.logprobs = 2, p.n = 2;
  const std::vector<int32_t> prompt = {1, 150, 29, 390, 102};
  const std::map<std::string, OutputKind> kinds = {{"cumulative", OutputKind::kCumulative},
                                                   {"delta", OutputKind::kDelta},
                                                   {"final", OutputKind::kFinalOnly}};
  for (const auto& [id, kind] : kinds) {
    SamplingParams q = p;
    q.output_kind = kind;
    e.add_request(id, {std::nullopt, prompt}, q);
  }
  std::map<std::string, std::vector<RequestOutput>> outs;
  while (e.has_unfinished())
    for (auto& o : e.step()) outs[o.request_id].push_back(std::move(o));
  ASSERT_EQ(outs["final"].size(), 1u);
  EXPECT_GT(outs["delta"].size(), 2u);
  const RequestOutput& cum = outs["cumulative"].back();
  const RequestOutput& fin = outs["final"].back();
  ASSERT_TRUE(cum.finished && fin.finished);
  EXPECT_EQ(fin.prompt_token_ids, prompt);
  for (int i = 0; i < 2; ++i) {
    const CompletionOutput& c = cum.outputs[i];
    ASSERT_EQ(c.token_ids.size(), 9u);
    EXPECT_EQ(fin.outputs[i].token_ids, c.token_ids);
    EXPECT_EQ(fin.outputs[i].num_new_tokens, 9u);
    std::vector<int32_t> ids;
    std::vector<int32_t> lp_tokens;
    for (size_t k = 0; k < outs["delta"].size(); ++k) {
      const RequestOutput& d = outs["delta"][k];
      EXPECT_EQ(d.prompt_token_ids.empty(), k > 0) << "the prompt comes in the first output only";
      const CompletionOutput& dc = d.outputs[i];
      EXPECT_EQ(dc.token_ids.size(), dc.num_new_tokens);
      ids.insert(ids.end(), dc.token_ids.begin(), dc.token_ids.end());
      for (const auto& lp : dc.logprobs) lp_tokens.push_back(lp.token);
    }
    EXPECT_EQ(ids, c.token_ids);
    EXPECT_EQ(lp_tokens, c.token_ids);
    EXPECT_EQ(outs["delta"].back().outputs[i].finish_reason, c.finish_reason);
  }
}

TEST(Engine, WaitingQueueIsBounded) {
  EngineConfig c = small_engine("llama-f32");
  c.max_waiting = 2;
  LLMEngine e(c);
  e.add_request("a", {std::nullopt, {1, 2}}, greedy(4));
  e.add_request("b", {std::nullopt, {1, 2}}, greedy(4));
  try {
    e.add_request("c", {std::nullopt, {1, 2}}, greedy(4));
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("waiting queue is full"), std::string::npos);
  }
  while (e.has_unfinished()) e.step();
}

// Many requests with random lengths, priorities and aborts on a cache small enough to preempt:
// every request ends exactly once and every block is free at the end.
TEST(Engine, RandomizedRequestsAllFinishOnceAndFreeEverything) {
  EngineConfig c = small_engine("llama-f32");
  c.block_size = 4;
  c.kv_cache_memory = 60 * 2048;  // 60 blocks
  c.max_num_seqs = 12;
  c.max_num_batched_tokens = 48;
  c.policy = "priority";
  LLMEngine e(c);
  std::mt19937 rng(3);
  std::map<std::string, int> finished;
  std::set<std::string> live;
  int added = 0, calls = 0;
  for (int step = 0; added < 500 || e.has_unfinished(); ++step, ++calls) {
    for (int k = 0; k < 3 && added < 500; ++k, ++added) {
      std::vector<int32_t> prompt(std::uniform_int_distribution<int>(1, 40)(rng));
      for (auto& t : prompt) t = std::uniform_int_distribution<int32_t>(0, 511)(rng);
      SamplingParams p;
      p.temperature = (rng() % 2) ? 0.0f : 1.0f;
      p.max_tokens = std::uniform_int_distribution<int>(1, 12)(rng);
      p.n = 1 + rng() % 2;
      const std::string id = "r" + std::to_string(added);
      e.add_request(id, {std::nullopt, prompt}, p, static_cast<int>(rng() % 3));
      live.insert(id);
    }
    if (!live.empty() && rng() % 7 == 0) {
      auto it = std::next(live.begin(), rng() % live.size());
      e.abort(*it);
    }
    for (const auto& out : e.step()) {
      if (!out.finished) continue;
      ++finished[out.request_id];
      live.erase(out.request_id);
      for (const auto& co : out.outputs) ASSERT_TRUE(co.finish_reason.has_value());
    }
    ASSERT_LT(step, 200000) << "engine did not drain";
  }
  EXPECT_EQ(finished.size(), 500u);
  for (const auto& [id, n] : finished) EXPECT_EQ(n, 1) << id;
  const EngineStats s = e.stats();
  EXPECT_EQ(s.kv_usage, 0.0);
  EXPECT_EQ(s.num_running + s.num_waiting, 0u);
  EXPECT_GT(s.num_preemptions, 0);
  // Step timing: only steps with work count, and both parts of their time are measured.
  EXPECT_GT(s.num_steps, 0);
  EXPECT_LE(s.num_steps, calls);
  EXPECT_GT(s.runner_seconds, 0.0);
  EXPECT_GT(s.host_seconds, 0.0);
}

}  // namespace
}  // namespace osprey
