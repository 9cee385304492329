#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "sampling/logits_processors.h"
#include "sampling/rng.h"
#include "test_util.h"

namespace osprey {
namespace {

using testing::random_logits;

const float kNegInf = -std::numeric_limits<float>::infinity();

SamplingParams seeded(uint64_t seed, float temperature = 1.0f) {
  SamplingParams p;
  p.seed = seed;
  p.temperature = temperature;
  return p;
}

// Samples `steps` tokens, each from a fresh copy of `logits`.
std::vector<int32_t> run(SequenceSampler& s, const std::vector<float>& logits, int steps,
                         std::vector<int32_t> stop_ids = {}) {
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    std::vector<float> copy = logits;
    out.push_back(s.sample(copy, stop_ids).token);
  }
  return out;
}

int32_t reference_argmax(const std::vector<float>& v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

TEST(Rng, SplitMix64KnownValueAndStreamsDiffer) {
  uint64_t x = 0;
  EXPECT_EQ(sampling::splitmix64(x), 0xE220A8397B1DCDAFull);
  sampling::Xoshiro256 a(42, 0), b(42, 0), c(42, 1), d(43, 0);
  const uint64_t va = a.next();
  EXPECT_EQ(va, b.next());
  EXPECT_NE(va, c.next());
  EXPECT_NE(va, d.next());
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Sampler, TemperatureZeroIsArgmaxExactly) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const auto logits = random_logits(5000, seed);
    for (float t : {0.0f, 1e-6f}) {
      SequenceSampler s(seeded(seed, t), {});
      std::vector<float> copy = logits;
      EXPECT_EQ(s.sample(copy, {}).token, reference_argmax(logits));
    }
  }
}

TEST(Sampler, GreedyTiesPickLowestId) {
  SequenceSampler s(seeded(1, 0.0f), {});
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
  EXPECT_EQ(s.sample(logits, {}).token, 1);
}

TEST(Sampler, PlainTemperatureMatchesDistribution) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -1.0f, 0.2f, 0.8f, 1.2f};
  for (float t : {0.7f, 1.0f, 1.6f}) {
    SequenceSampler s(seeded(7, t), {});
    const int draws = 100000;
    std::vector<int> counts(logits.size());
    for (int32_t tok : run(s, logits, draws)) ++counts[tok];
    const auto p = testing::softmax(logits, t);
    double chi2 = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const double e = p[i] * draws;
      chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    EXPECT_LT(chi2, 30.0) << "temperature " << t;  // 9 dof: p ~ 0.0005 to exceed by chance
  }
}

TEST(Sampler, TruncatedDistributionMatchesRenormalized) {
  // top_k = 4 keeps 4, 5, 9, 0; renormalized they have p = .41, .25, .19, .15, so top_p = 0.8
  // keeps 4, 5, 9 (cumulative .85): frequencies must follow those three renormalized.
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -1.0f, 0.2f, 0.8f, 1.2f};
  SamplingParams p = seeded(11);
  p.top_k = 4;
  p.top_p = 0.8f;
  const auto keep = testing::allowed_set(logits, 1.0, 4, 0.8, 0.0, 0.0);
  const auto probs = testing::softmax(logits, 1.0);
  double z = 0;
  for (size_t i = 0; i < keep.size(); ++i) z += keep[i] ? probs[i] : 0.0;
  SequenceSampler s(p, {});
  const int draws = 100000;
  std::vector<int> counts(logits.size());
  for (int32_t tok : run(s, logits, draws)) ++counts[tok];
  double chi2 = 0;
  int kept = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) {
      EXPECT_EQ(counts[i], 0) << i;
      continue;
    }
    ++kept;
    const double e = probs[i] / z * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  EXPECT_EQ(kept, 3);
  EXPECT_LT(chi2, 20.0);
}

struct TruncCase {
  size_t vocab;
  float temperature;
  int top_k;
  float top_p;
  float min_p;
};

TEST(Sampler, NeverSamplesOutsideAllowedSet) {
  const TruncCase cases[] = {
      {1000, 1.0f, 10, 1.0f, 0.0f},    {1000, 0.8f, 0, 0.5f, 0.0f},
      {1000, 1.3f, 0, 1.0f, 0.3f},     {1000, 1.0f, 50, 0.9f, 0.1f},
      {152064, 1.0f, 0, 0.1f, 0.0f},   {152064, 0.5f, 0, 1.0f, 0.05f},
      {152064, 1.0f, 40, 0.95f, 0.0f}, {1000, 1.0f, 1, 1.0f, 0.0f},
  };
  for (const auto& c : cases) {
    const auto logits = random_logits(c.vocab, static_cast<uint32_t>(c.vocab) + c.top_k, -8, 8);
    const auto generous =
        testing::allowed_set(logits, c.temperature, c.top_k, c.top_p, c.min_p, 1e-6);
    const auto strict =
        testing::allowed_set(logits, c.temperature, c.top_k, c.top_p, c.min_p, -1e-6);
    SamplingParams p = seeded(3, c.temperature);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    SequenceSampler s(p, {});
    for (int32_t tok : run(s, logits, c.vocab > 10000 ? 100 : 2000)) {
      ASSERT_TRUE(generous[tok]) << "token " << tok << " vocab " << c.vocab << " top_k " << c.top_k
                                 << " top_p " << c.top_p << " min_p " << c.min_p;
    }
    // The kept set itself lies between the strict and the generous reference.
    sampling::SampleScratch scratch;
    const auto kept =
        sampling::kept_tokens(logits, {c.temperature, c.top_k, c.top_p, c.min_p}, scratch);
    std::vector<bool> in_kept(c.vocab, false);
    for (int32_t id : kept) in_kept[id] = true;
    for (size_t i = 0; i < c.vocab; ++i) {
      if (strict[i]) {
        EXPECT_TRUE(in_kept[i]) << i;
      }
      if (in_kept[i]) {
        EXPECT_TRUE(generous[i]) << i;
      }
    }
  }
}

TEST(Sampler, LogitBiasRemovesAndForces) {
  const auto logits = random_logits(500, 5);
  const int32_t best = reference_argmax(logits);
  SamplingParams p = seeded(9, 0.0f);
  p.logit_bias[best] = -100.0f;
  SequenceSampler greedy(p, {});
  EXPECT_NE(run(greedy, logits, 1)[0], best);

  SamplingParams q = seeded(9, 1.0f);
  q.logit_bias[123] = 100.0f;
  SequenceSampler forced(q, {});
  for (int32_t tok : run(forced, logits, 200)) ASSERT_EQ(tok, 123);
}

TEST(Sampler, MinTokensMasksStopIdsUntilReached) {
  std::vector<float> logits = {0.0f, 1.0f, 5.0f, 4.0f};  // 2 and 3: stop ids, 2 the argmax
  SamplingParams p = seeded(1, 0.0f);
  p.min_tokens = 3;
  SequenceSampler s(p, {});
  const auto out = run(s, logits, 5, {2, 3});
  EXPECT_EQ(out, (std::vector<int32_t>{1, 1, 1, 2, 2}));
  EXPECT_EQ(s.num_generated(), 5);
  // Sampled (not greedy): never a stop id before min_tokens.
  SamplingParams q = seeded(2, 1.0f);
  q.min_tokens = 50;
  SequenceSampler t(q, {});
  for (int32_t tok : run(t, logits, 50, {2, 3})) ASSERT_LT(tok, 2);
}

TEST(Sampler, AppendCountsTowardMinTokensAndPenalties) {
  std::vector<float> logits = {0.0f, 1.0f, 5.0f};
  SamplingParams p = seeded(1, 0.0f);
  p.min_tokens = 2;
  p.presence_penalty = 2.0f;
  SequenceSampler s(p, {});
  s.append(2);
  EXPECT_EQ(s.num_generated(), 1);
  EXPECT_EQ(run(s, logits, 1, {2})[0], 1);  // 2 still masked
  // now 2 generated: 2 allowed, its presence penalty 5 - 2 = 3 still wins
  EXPECT_EQ(run(s, logits, 1, {2})[0], 2);
}

TEST(Sampler, RepetitionPenaltyCoversPromptAndOutput) {
  SamplingParams p = seeded(1, 0.0f);
  p.repetition_penalty = 1.5f;
  const std::vector<int32_t> prompt = {0, 0, 7};
  SequenceSampler s(p, prompt);
  // 2.0 / 1.5 = 1.33 < 1.5: the prompt's token 0 loses to 1.
  EXPECT_EQ(run(s, {2.0f, 1.5f, -1.0f}, 1)[0], 1);

  SamplingParams q = seeded(1, 0.0f);
  q.repetition_penalty = 2.0f;
  SequenceSampler t(q, {});
  // 1.0, 0.9 -> 0; then 0.5 vs 0.9 -> 1; then 0.5 vs 0.45 -> 0 (each penalized once).
  EXPECT_EQ(run(t, {1.0f, 0.9f}, 3), (std::vector<int32_t>{0, 1, 0}));
  // Negative logits are multiplied: -1 * 2 = -2 < -1.5.
  SequenceSampler u(q, std::vector<int32_t>{0});
  EXPECT_EQ(run(u, {-1.0f, -1.5f}, 1)[0], 1);
}

TEST(Sampler, FrequencyPenaltyCountsOutputOnly) {
  SamplingParams p = seeded(1, 0.0f);
  p.frequency_penalty = 1.0f;
  SequenceSampler s(p, std::vector<int32_t>{0, 0, 0, 0});  // prompt not counted
  EXPECT_EQ(run(s, {3.0f, 2.5f, 0.0f}, 4), (std::vector<int32_t>{0, 1, 0, 1}));
}

TEST(Processors, PenaltiesMoveLogitsExactly) {
  std::vector<float> x = {2.0f, -2.0f, 0.0f, 3.0f};
  const std::vector<int32_t> ids = {0, 1, 2, 99};  // out-of-range ids ignored
  sampling::apply_repetition_penalty(x, ids, 2.0f);
  EXPECT_EQ(x, (std::vector<float>{1.0f, -4.0f, 0.0f, 3.0f}));
  std::unordered_map<int32_t, int32_t> counts = {{1, 3}, {3, 1}, {-5, 2}};
  sampling::apply_frequency_presence(x, counts, 0.5f, 0.25f);
  EXPECT_EQ(x, (std::vector<float>{1.0f, -4.0f - 1.75f, 0.0f, 3.0f - 0.75f}));
  sampling::apply_logit_bias(x, {{0, 10.0f}, {1000, 1.0f}});
  EXPECT_EQ(x[0], 11.0f);
  const std::vector<int32_t> mask = {2, -1};
  sampling::mask_tokens(x, mask);
  EXPECT_EQ(x[2], kNegInf);
}

TEST(Sampler, SameSeedSameSequenceAcrossInstances) {
  const auto logits = random_logits(32000, 17, -3, 3);
  SamplingParams p = seeded(1234, 0.9f);
  p.top_p = 0.95f;
  SequenceSampler a(p, {}), b(p, {});
  const auto sa = run(a, logits, 64);
  EXPECT_EQ(sa, run(b, logits, 64));
  SequenceSampler c(p, {}, 1);
  EXPECT_NE(sa, run(c, logits, 64));
  SamplingParams q = p;
  q.seed = 1235;
  SequenceSampler d(q, {});
  EXPECT_NE(sa, run(d, logits, 64));
}

TEST(Sampler, OtherSamplersDoNotDisturbASeededOne) {
  const auto logits = random_logits(4000, 21, -3, 3);
  const SamplingParams p = seeded(99);
  SequenceSampler alone(p, {});
  const auto expected = run(alone, logits, 100);

  SequenceSampler seq(p, {});
  SamplingParams other = seeded(5);
  other.top_k = 20;
  SequenceSampler noisy(other, {});
  SequenceSampler unseeded(SamplingParams{}, {});
  std::vector<int32_t> got;
  for (int i = 0; i < 100; ++i) {
    run(noisy, logits, i % 3);
    run(unseeded, random_logits(100, i), 1);
    got.push_back(run(seq, logits, 1)[0]);
  }
  EXPECT_EQ(got, expected);
}

TEST(Sampler, LogprobsMatchDoubleReference) {
  const auto logits = random_logits(32000, 33, -10, 10);
  const double m = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float x : logits) z += std::exp(double(x) - m);
  const double lse = m + std::log(z);

  SamplingParams p = seeded(4);
  p.logprobs = 5;
  SequenceSampler s(p, {});
  std::vector<float> copy = logits;
  const auto r = s.sample(copy, {});
  EXPECT_NEAR(r.logprob, logits[r.token] - lse, 1e-5);
  ASSERT_EQ(r.top_logprobs.size(), 5u);
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + 5, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.top_logprobs[i].first, ids[i]);
    EXPECT_NEAR(r.top_logprobs[i].second, logits[ids[i]] - lse, 1e-5);
  }
}

TEST(Sampler, ChosenLogprobIsRawEvenWhenProcessed) {
  const auto logits = random_logits(1000, 8);
  const auto raw = testing::softmax(logits, 1.0);
  SamplingParams p = seeded(4, 0.3f);
  p.logprobs = 1;
  p.logit_bias[777] = 100.0f;  // forced, far from the raw top
  p.repetition_penalty = 1.3f;
  SequenceSampler s(p, std::vector<int32_t>{777, 5});
  for (int i = 0; i < 3; ++i) {
    std::vector<float> copy = logits;
    const auto r = s.sample(copy, {});
    EXPECT_EQ(r.token, 777);
    EXPECT_NEAR(r.logprob, std::log(raw[777]), 1e-5);
    ASSERT_EQ(r.top_logprobs.size(), 1u);
    EXPECT_EQ(r.top_logprobs[0].first, reference_argmax(logits));
  }
  // logprobs = 0: only the chosen token's.
  p.logprobs = 0;
  SequenceSampler t(p, {});
  std::vector<float> copy = logits;
  EXPECT_TRUE(t.sample(copy, {}).top_logprobs.empty());
}

TEST(Sampler, TopLogprobsTiesByLowerId) {
  SamplingParams p = seeded(4, 0.0f);
  p.logprobs = 3;
  SequenceSampler s(p, {});
  std::vector<float> logits = {0.0f, 2.0f, 1.0f, 2.0f, 2.0f, 1.0f};
  const auto r = s.sample(logits, {});
  ASSERT_EQ(r.top_logprobs.size(), 3u);
  EXPECT_EQ(r.top_logprobs[0].first, 1);
  EXPECT_EQ(r.top_logprobs[1].first, 3);
  EXPECT_EQ(r.top_logprobs[2].first, 4);
}

TEST(Sampler, NanAndMaskedLogitsAreNeverChosen) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  SequenceSampler s(seeded(3), {});
  for (int32_t tok : run(s, {nan, 0.0f, kNegInf, 0.5f, nan}, 500)) {
    ASSERT_TRUE(tok == 1 || tok == 3) << tok;
  }
}

}  // namespace
}  // namespace osprey
