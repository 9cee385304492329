#include "bench/offline_bench.h"

#include <chrono>
#include <random>
#include <set>

#include "core/error.h"
#include "kv/kv_cache.h"
#include "model/generate.h"
#include "model/loader.h"
#include "model/weights.h"

namespace osprey::bench {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

OfflineResult run_offline(const EngineConfig& config, const OfflineOptions& o) {
  if (o.input_len_min < 1 || o.input_len_max < o.input_len_min || o.output_len_min < 1 ||
      o.output_len_max < o.output_len_min || o.num_prompts < 1) {
    invalid_input("bad length ranges or prompt count");
  }
  LLMEngine engine(config);
  const int64_t vocab = engine.vocab_size();
  std::mt19937_64 rng(o.seed);
  auto token = [&] { return static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab)); };
  std::vector<std::vector<int32_t>> prefixes(std::max(0, o.shared_prefixes));
  for (auto& p : prefixes) {
    p.resize(o.prefix_len);
    for (auto& t : p) t = token();
  }
  OfflineResult r;
  for (int i = 0; i < o.num_prompts; ++i) {
    std::vector<int32_t> prompt;
    if (!prefixes.empty()) prompt = prefixes[rng() % prefixes.size()];
    const int64_t len =
        std::uniform_int_distribution<int64_t>(o.input_len_min, o.input_len_max)(rng);
    while (static_cast<int64_t>(prompt.size()) < len + (prefixes.empty() ? 0 : o.prefix_len)) {
      prompt.push_back(token());
    }
    SamplingParams p;
    p.temperature = o.temperature;
    p.top_p = o.top_p;
    p.seed = o.seed * 1000003 + static_cast<uint64_t>(i);
    p.ignore_eos = true;
    p.output_kind = OutputKind::kDelta;  // the loop below counts new tokens only
    p.max_tokens = std::uniform_int_distribution<int64_t>(o.output_len_min, o.output_len_max)(rng);
    r.prompt_tokens += static_cast<int64_t>(prompt.size());
    engine.add_request(std::to_string(i), {std::nullopt, prompt}, p);
  }
  const auto t0 = std::chrono::steady_clock::now();
  double waste_sum = 0;
  int64_t steps = 0;
  // Once every request has its first token, steps only decode: their rate is the batched decode
  // throughput, apart from prefill.
  std::set<std::string> started;
  double decode_seconds = 0;
  int64_t decode_tokens = 0;
  while (engine.has_unfinished()) {
    const bool decode_only = started.size() == static_cast<size_t>(o.num_prompts);
    const auto ts = std::chrono::steady_clock::now();
    const auto outs = engine.step();
    if (decode_only) decode_seconds += seconds_since(ts);
    for (const auto& out : outs) {
      for (const auto& c : out.outputs) {
        if (decode_only) decode_tokens += static_cast<int64_t>(c.num_new_tokens);
        r.output_tokens += static_cast<int64_t>(c.num_new_tokens);
        if (!c.token_ids.empty()) started.insert(out.request_id);
      }
      if (out.finished) ++r.completed;
    }
    const EngineStats s = engine.stats();
    if (s.kv_token_slots > 0) {
      waste_sum += 1.0 - static_cast<double>(s.kv_tokens) / static_cast<double>(s.kv_token_slots);
      ++steps;
    }
    r.kv_peak_usage = std::max(r.kv_peak_usage, s.kv_usage);
  }
  r.seconds = seconds_since(t0);
  const EngineStats s = engine.stats();
  r.kv_waste = steps ? waste_sum / static_cast<double>(steps) : 0;
  r.prefix_hit_rate = s.prefix_queries ? static_cast<double>(s.prefix_hits) / s.prefix_queries : 0;
  r.preemptions = s.num_preemptions;
  r.num_blocks = s.num_blocks;
  r.output_tokens_per_s = r.output_tokens / r.seconds;
  r.total_tokens_per_s = (r.output_tokens + r.prompt_tokens) / r.seconds;
  r.requests_per_s = r.completed / r.seconds;
  r.decode_tokens_per_s = decode_seconds > 0 ? decode_tokens / decode_seconds : 0;
  if (s.num_steps > 0) {
    r.runner_ms_per_step = 1e3 * s.runner_seconds / static_cast<double>(s.num_steps);
    r.host_ms_per_step = 1e3 * s.host_seconds / static_cast<double>(s.num_steps);
  }
  r.device = engine.config().device;
  r.max_num_seqs = engine.config().max_num_seqs;
  return r;
}

LatencyResult run_latency(const std::string& model_path, const LatencyOptions& o) {
  if (o.input_len < 1 || o.output_len < 1 || o.batch_size < 1)
    invalid_input("lengths and batch size must be >= 1");
  LoadOptions lo;
  lo.prefetch = true;
  lo.progress = false;
  lo.quantize = parse_quantize_type(o.quantize);
  lo.repack_weights = o.repack_weights;
  LoadedModel m = load_model(model_path, lo);
  TransformerModel& model = *m.model;
  const auto& c = model.config();
  if (o.input_len + o.output_len > c.max_position_embeddings) {
    invalid_input("input + output length {} exceeds the model's context {}",
                  o.input_len + o.output_len, c.max_position_embeddings);
  }
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), o.batch_size, o.input_len + o.output_len,
                          kv_cache_dtype(o.kv_cache_dtype, c.dtype));
  std::vector<float> logits(static_cast<size_t>(o.batch_size) * c.vocab_size);
  ForwardBatch pre;
  for (int b = 0; b < o.batch_size; ++b) {
    for (int64_t i = 0; i < o.input_len; ++i)
      pre.tokens.push_back(static_cast<int32_t>((i * 31 + b) % c.vocab_size));
    pre.seqs.push_back({b, 0, o.input_len, false});
  }
  LatencyResult r;
  auto t0 = std::chrono::steady_clock::now();
  model.forward(pre, cache, logits.data());
  r.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < o.output_len; ++step) {
    ForwardBatch b;
    for (int s = 0; s < o.batch_size; ++s) {
      b.tokens.push_back(argmax(logits.data() + s * c.vocab_size, c.vocab_size));
      b.seqs.push_back({s, o.input_len + step, 1, false});
    }
    model.forward(b, cache, logits.data());
  }
  r.decode_seconds = seconds_since(t0);
  r.prefill_tokens_per_s = o.input_len * o.batch_size / r.prefill_seconds;
  r.decode_tokens_per_s = o.output_len * o.batch_size / r.decode_seconds;
  return r;
}

}  // namespace osprey::bench
