// SequenceSampler::sample(): the steps in vLLM v1's order (raw logprobs, logit bias, min_tokens,
// penalties, greedy or temperature / top-k / top-p / min-p), each in sampling/logits_processors.
#include "sampling/sampler.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "sampling/logits_processors.h"

namespace osprey {
namespace {

// Per thread, not per sequence: a vocabulary-sized buffer per sequence would cost more than the
// sequence's own state. Nothing in it outlives one sample() call.
struct Scratch {
  sampling::SampleScratch sample;
  std::vector<std::pair<int32_t, float>> raw;  // logits the processors changed, before the change
  std::vector<int32_t> ids;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

SequenceSampler::SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt,
                                 uint32_t seed_stream)
    : params_(params) {
  uint64_t seed;
  if (params.seed) {
    seed = *params.seed;
  } else {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  rng_ = sampling::Xoshiro256(seed, seed_stream);
  track_output_ = params.repetition_penalty != 1.0f || params.frequency_penalty != 0.0f ||
                  params.presence_penalty != 0.0f;
  if (params.repetition_penalty != 1.0f) {
    prompt_ids_.assign(prompt.begin(), prompt.end());
    std::sort(prompt_ids_.begin(), prompt_ids_.end());
    prompt_ids_.erase(std::unique(prompt_ids_.begin(), prompt_ids_.end()), prompt_ids_.end());
  }
}

SequenceSampler::Result SequenceSampler::sample(std::span<float> logits,
                                                std::span<const int32_t> stop_ids) {
  Scratch& s = scratch();
  Result result{};
  const size_t n = logits.size();
  OSPREY_CHECK(n > 0, "SequenceSampler::sample: empty logits");

  // (1) Raw logprobs, before anything changes the logits.
  const sampling::LogSoftmaxStats stats = sampling::sanitize_and_stats(logits);
  if (params_.logprobs && *params_.logprobs > 0) {
    sampling::top_logprobs(logits, *params_.logprobs, stats, result.top_logprobs);
  }

  // The processors below change few logits; remembering their raw values is cheaper than a copy
  // of the vocabulary, and gives the chosen token's raw logprob at the end.
  s.raw.clear();
  auto remember = [&](int32_t id) {
    if (id >= 0 && static_cast<size_t>(id) < n) s.raw.emplace_back(id, logits[id]);
  };
  const bool mask_stops = num_generated_ < params_.min_tokens;
  for (const auto& [id, bias] : params_.logit_bias) remember(id);
  if (mask_stops) {
    for (int32_t id : stop_ids) remember(id);
  }
  if (track_output_) {
    for (int32_t id : prompt_ids_) remember(id);
    for (const auto& [id, count] : output_counts_) remember(id);
  }

  // (2) logit bias, (3) min_tokens, (4) penalties.
  sampling::apply_logit_bias(logits, params_.logit_bias);
  if (mask_stops) sampling::mask_tokens(logits, stop_ids);
  if (params_.repetition_penalty != 1.0f) {
    // vLLM: every token of the prompt or the output, once.
    s.ids.assign(prompt_ids_.begin(), prompt_ids_.end());
    for (const auto& [id, count] : output_counts_) {
      if (!std::binary_search(prompt_ids_.begin(), prompt_ids_.end(), id)) s.ids.push_back(id);
    }
    sampling::apply_repetition_penalty(logits, s.ids, params_.repetition_penalty);
  }
  if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) {
    sampling::apply_frequency_presence(logits, output_counts_, params_.frequency_penalty,
                                       params_.presence_penalty);
  }

  // (5) greedy, or (5)-(9) temperature, top-k, top-p, min-p and one draw.
  int32_t token;
  if (!(params_.temperature >= sampling::kGreedyTemperature)) {
    token = sampling::argmax(logits);
  } else {
    const sampling::TruncationConfig cfg{params_.temperature, params_.top_k, params_.top_p,
                                         params_.min_p};
    token = sampling::sample_truncated(logits, cfg, rng_.uniform(), s.sample);
  }

  float raw = logits[token];
  for (const auto& [id, value] : s.raw) {
    if (id == token) {  // the first record is the value before any processor
      raw = value;
      break;
    }
  }
  result.token = token;
  result.logprob = stats.logprob(raw);
  append(token);
  return result;
}

sampling::RowDraw SequenceSampler::next_draw(std::span<const int32_t> stop_ids,
                                             std::vector<sampling::LogitEdit>& edits) {
  const SamplingParams& p = params_;
  sampling::RowDraw d;
  if (p.temperature >= sampling::kGreedyTemperature)
    d = {p.temperature, p.top_k, p.top_p, p.min_p, rng_.uniform()};
  d.repetition_penalty = p.repetition_penalty;
  d.frequency_penalty = p.frequency_penalty;
  d.presence_penalty = p.presence_penalty;
  d.edit_begin = static_cast<int64_t>(edits.size());
  const bool mask_stops = num_generated_ < p.min_tokens;
  const bool repetition = p.repetition_penalty != 1.0f;
  const bool counts = p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  // Every token some processor touches, once, in id order.
  std::vector<int32_t>& ids = scratch().ids;
  ids.clear();
  for (const auto& [id, bias] : p.logit_bias) ids.push_back(id);
  if (mask_stops) ids.insert(ids.end(), stop_ids.begin(), stop_ids.end());
  if (repetition) ids.insert(ids.end(), prompt_ids_.begin(), prompt_ids_.end());
  if (repetition || counts) {
    for (const auto& [id, count] : output_counts_) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t id : ids) {
    sampling::LogitEdit e;
    e.id = id;
    if (auto it = p.logit_bias.find(id); it != p.logit_bias.end()) e.bias = it->second;
    e.masked = mask_stops && std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
    const auto out = output_counts_.find(id);
    const int32_t count = out == output_counts_.end() ? 0 : out->second;
    e.repeated =
        repetition && (count > 0 || std::binary_search(prompt_ids_.begin(), prompt_ids_.end(), id));
    e.count = counts ? count : 0;
    edits.push_back(e);
  }
  d.edit_count = static_cast<int64_t>(edits.size()) - d.edit_begin;
  d.logprobs = p.logprobs ? *p.logprobs : -1;
  return d;
}

void SequenceSampler::append(int32_t token) {
  ++num_generated_;
  if (track_output_) ++output_counts_[token];
}

int64_t SequenceSampler::num_generated() const {
  return num_generated_;
}

}  // namespace osprey
