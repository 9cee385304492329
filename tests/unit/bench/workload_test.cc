// Prompts of the serving benchmark: exact lengths through a tokenizer whose round trip changes
// counts, the four datasets, the ShareGPT selection rules, and seeded arrival times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "bench/arrival.h"
#include "bench/sharegpt.h"
#include "bench/stream_record.h"
#include "bench/workload.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::bench {
namespace {

const std::string kDir = std::string(OSPREY_FIXTURES) + "/bench/";

std::shared_ptr<const Tokenizer> tiny_tokenizer() {
  return Tokenizer::from_dir(kDir + "tokenizer");
}

TEST(Workload, ExactLengthTextThroughMergingTokenizer) {
  const auto tok = tiny_tokenizer();
  // The merges make a naive decode of n random ids re-encode to fewer tokens.
  const std::vector<int32_t> ab = {tok->token_to_id("a").value(), tok->token_to_id("b").value()};
  ASSERT_EQ(tok->encode(tok->decode(ab), false).size(), 1u);
  for (int64_t n : {1, 2, 3, 7, 16, 50, 200}) {
    for (uint64_t seed : {0, 1, 2}) {
      const std::string text = exact_length_text(*tok, n, seed);
      EXPECT_EQ(static_cast<int64_t>(tok->encode(text, false).size()), n) << n << " seed " << seed;
      EXPECT_EQ(text.find("<s>"), std::string::npos);  // no special tokens
    }
  }
  EXPECT_EQ(exact_length_text(*tok, 30, 5), exact_length_text(*tok, 30, 5));
  EXPECT_NE(exact_length_text(*tok, 30, 5), exact_length_text(*tok, 30, 6));
}

TEST(Workload, RandomTokenIdsWithoutTokenizer) {
  WorkloadOptions o;
  o.num_prompts = 20;
  o.input_len = 33;
  o.output_len = 9;
  o.vocab_size = 50;
  o.seed = 4;
  const auto w = make_workload(o, nullptr);
  ASSERT_EQ(w.size(), 20u);
  for (const auto& p : w) {
    EXPECT_EQ(p.token_ids.size(), 33u);
    EXPECT_TRUE(p.text.empty());
    EXPECT_EQ(p.prompt_len, 33);
    EXPECT_EQ(p.output_len, 9);
    for (int32_t t : p.token_ids) EXPECT_TRUE(t >= 0 && t < 50);
  }
  EXPECT_NE(w[0].token_ids, w[1].token_ids);
  EXPECT_EQ(make_workload(o, nullptr)[7].token_ids, w[7].token_ids);  // seeded
  o.chat = true;
  EXPECT_THROW(make_workload(o, nullptr), Error);  // chat needs text
}

TEST(Workload, RandomTextHasExactLengths) {
  const auto tok = tiny_tokenizer();
  WorkloadOptions o;
  o.num_prompts = 5;
  o.input_len = 40;
  const auto w = make_workload(o, tok.get());
  for (const auto& p : w) EXPECT_EQ(tok->encode(p.text, false).size(), 40u);
}

TEST(Workload, SyntheticLengthsFollowTheirMedians) {
  WorkloadOptions o;
  o.dataset = "synthetic";
  o.num_prompts = 2000;
  o.input_len = 100;
  o.output_len = 40;
  o.vocab_size = 10;
  const auto w = make_workload(o, nullptr);
  std::vector<double> in, out;
  for (const auto& p : w) {
    in.push_back(static_cast<double>(p.token_ids.size()));
    out.push_back(static_cast<double>(p.output_len));
    EXPECT_TRUE(p.output_len >= 1 && p.output_len <= 320);
  }
  std::sort(in.begin(), in.end());
  std::sort(out.begin(), out.end());
  EXPECT_NEAR(in[1000], 100, 10);
  EXPECT_NEAR(out[1000], 40, 4);
  EXPECT_GT(in.back(), 2 * in[1000]);  // a long tail, not a constant
}

TEST(Workload, SharedPrefixes) {
  WorkloadOptions o;
  o.dataset = "prefix";
  o.num_prefixes = 3;
  o.questions_per_prefix = 4;
  o.prefix_len = 20;
  o.input_len = 5;
  o.num_prompts = 12;
  o.vocab_size = 1000;
  const auto w = make_workload(o, nullptr);
  ASSERT_EQ(w.size(), 12u);
  std::set<std::vector<int32_t>> prefixes, whole;
  for (const auto& p : w) {
    ASSERT_EQ(p.token_ids.size(), 25u);
    EXPECT_EQ(p.prompt_len, 25);
    prefixes.insert({p.token_ids.begin(), p.token_ids.begin() + 20});
    whole.insert(p.token_ids);
  }
  EXPECT_EQ(prefixes.size(), 3u);
  EXPECT_EQ(whole.size(), 12u);
  // Chat keeps the prefix as the system message.
  const auto tok = tiny_tokenizer();
  o.chat = true;
  const auto c = make_workload(o, tok.get());
  std::set<std::string> systems;
  for (const auto& p : c) {
    systems.insert(p.system);
    EXPECT_EQ(tok->encode(p.system, false).size(), 20u);
    EXPECT_EQ(tok->encode(p.text, false).size(), 5u);
  }
  EXPECT_EQ(systems.size(), 3u);
}

TEST(ShareGpt, SelectsLikeVllm) {
  const auto tok = tiny_tokenizer();
  const auto w = load_sharegpt(kDir + "sharegpt_tiny.json", 3, tok.get(), 0, 0);
  ASSERT_EQ(w.size(), 3u);
  std::set<std::string> got;
  for (const auto& p : w) {
    got.insert(p.text);
    EXPECT_EQ(p.prompt_len, static_cast<int64_t>(tok->encode(p.text, false).size()));
    EXPECT_GE(p.output_len, 4);
  }
  // One-turn, too-short and malformed entries are skipped.
  EXPECT_EQ(got, (std::set<std::string>{"what is a cab", "describe the abc of cooking",
                                        "why is the sky blue?"}));
  for (const auto& p : w) {
    if (p.text == "what is a cab") {
      EXPECT_EQ(p.output_len,
                static_cast<int64_t>(tok->encode("a cab is a car for hire", false).size()));
    }
  }
  // More prompts than usable conversations: repeated. Seeded order.
  const auto many = load_sharegpt(kDir + "sharegpt_tiny.json", 7, tok.get(), 1, 0);
  EXPECT_EQ(many.size(), 7u);
  EXPECT_EQ(many[0].text, many[3].text);
  EXPECT_EQ(load_sharegpt(kDir + "sharegpt_tiny.json", 3, tok.get(), 1, 0)[0].text, many[0].text);
  // Without a tokenizer, lengths are unknown: --output-len is required, short turns are kept.
  EXPECT_THROW(load_sharegpt(kDir + "sharegpt_tiny.json", 3, nullptr, 0, 0), Error);
  const auto raw = load_sharegpt(kDir + "sharegpt_tiny.json", 5, nullptr, 0, 12);
  std::set<std::string> texts;
  for (const auto& p : raw) {
    texts.insert(p.text);
    EXPECT_EQ(p.output_len, 12);
    EXPECT_EQ(p.prompt_len, 0);
  }
  EXPECT_EQ(texts.size(), 5u);
  EXPECT_THROW(load_sharegpt(kDir + "missing.json", 3, tok.get(), 0, 0), Error);
  EXPECT_THROW(load_sharegpt(kDir + "tokenizer/tokenizer.json", 3, tok.get(), 0, 0),
               Error);  // not an array
}

TEST(Arrival, SeededGammaGaps) {
  const auto a = arrival_times(20000, 50, 1.0, 7);
  EXPECT_EQ(a, arrival_times(20000, 50, 1.0, 7));
  EXPECT_NE(a, arrival_times(20000, 50, 1.0, 8));
  EXPECT_EQ(a[0], 0);
  auto cv_and_mean = [](const std::vector<double>& t) {
    std::vector<double> g;
    for (size_t i = 1; i < t.size(); ++i) g.push_back(t[i] - t[i - 1]);
    double m = 0, v = 0;
    for (double x : g) m += x;
    m /= static_cast<double>(g.size());
    for (double x : g) v += (x - m) * (x - m);
    v /= static_cast<double>(g.size());
    return std::make_pair(std::sqrt(v) / m, m);
  };
  // Poisson: exponential gaps, mean 1/rate, coefficient of variation 1.
  auto [cv, mean] = cv_and_mean(a);
  EXPECT_NEAR(mean, 0.02, 0.02 * 0.03);
  EXPECT_NEAR(cv, 1.0, 0.03);
  // Gamma shape k has CV 1/sqrt(k): burstiness 0.25 -> 2, 4 -> 0.5; the mean stays 1/rate.
  std::tie(cv, mean) = cv_and_mean(arrival_times(20000, 50, 0.25, 7));
  EXPECT_NEAR(mean, 0.02, 0.02 * 0.06);
  EXPECT_NEAR(cv, 2.0, 0.1);
  std::tie(cv, mean) = cv_and_mean(arrival_times(20000, 50, 4, 7));
  EXPECT_NEAR(cv, 0.5, 0.02);
  for (double t : arrival_times(5, INFINITY, 1, 0)) EXPECT_EQ(t, 0);
  EXPECT_THROW(arrival_times(5, 0, 1, 0), Error);
  EXPECT_THROW(arrival_times(5, 1, 0, 0), Error);
}

TEST(StreamRecord, TokenCountSources) {
  auto run = [](const std::string& body, const Tokenizer* tok) {
    StreamAccumulator acc(0.0, 3);
    acc.on_body(body, 0.1);
    return acc.finish({200, "", ""}, 0.2, tok);
  };
  const std::string two =
      "data: {\"choices\":[{\"text\":\"ab\"}]}\n\ndata: {\"choices\":[{\"text\":\"c d\"}]}\n\n";
  const auto tok = tiny_tokenizer();
  auto r = run(two + "data: [DONE]\n\n", nullptr);
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.token_source, "chunks");
  EXPECT_EQ(r.output_len, 2);
  r = run(two + "data: [DONE]\n\n", tok.get());
  EXPECT_EQ(r.token_source, "tokenizer");
  EXPECT_EQ(r.output_len, static_cast<int64_t>(tok->encode("abc d", false).size()));
  r = run(two +
              "data: "
              "{\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5}}\n\ndata: "
              "[DONE]\n\n",
          tok.get());
  EXPECT_EQ(r.token_source, "usage");
  EXPECT_EQ(r.output_len, 5);
  EXPECT_EQ(r.prompt_len, 11);
  EXPECT_EQ(r.text, "abc d");
  EXPECT_NEAR(r.tpot, (0.1 - 0.1) / 4, 1e-12);
  // Token ids (osprey serve without a tokenizer): counted, and the chunks are output.
  r =
      run("data: {\"choices\":[{\"text\":\"\",\"token_ids\":[5,6]}]}\n\n"
          "data: {\"choices\":[{\"text\":\"\",\"token_ids\":[7]}]}\n\ndata: [DONE]\n\n",
          tok.get());
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.token_source, "token_ids");
  EXPECT_EQ(r.output_len, 3);
  EXPECT_EQ(r.itl.size(), 1u);
  // A body cut anywhere gives the same record.
  const std::string full = two + "data: [DONE]\n\n";
  for (size_t cut = 1; cut < full.size(); ++cut) {
    StreamAccumulator acc(0.0, 3);
    acc.on_body(full.substr(0, cut), 0.1);
    acc.on_body(full.substr(cut), 0.1);
    const auto x = acc.finish({200, "", ""}, 0.2, nullptr);
    ASSERT_TRUE(x.success) << cut;
    ASSERT_EQ(x.text, "abc d") << cut;
  }
}

}  // namespace
}  // namespace osprey::bench
