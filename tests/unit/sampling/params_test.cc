#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "core/error.h"
#include "osprey/sampling_params.h"

namespace osprey {
namespace {

constexpr int64_t kVocab = 1000;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Expects validate() to throw kInvalidInput with a message containing `field`.
void expect_rejected(const std::function<void(SamplingParams&)>& edit, const std::string& field) {
  SamplingParams p;
  edit(p);
  try {
    p.validate(kVocab);
    ADD_FAILURE() << "accepted a bad " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(SamplingParamsValidate, DefaultsPass) {
  SamplingParams p;
  EXPECT_NO_THROW(p.validate(kVocab));
  EXPECT_NO_THROW(p.validate(0));  // unknown vocabulary
}

TEST(SamplingParamsValidate, GoodEdgeValuesPass) {
  SamplingParams p;
  p.n = 128;
  p.temperature = 0.0f;
  p.top_p = 1.0f;
  p.top_k = -1;
  p.min_p = 1.0f;
  p.repetition_penalty = 0.5f;
  p.frequency_penalty = -2.0f;
  p.presence_penalty = 2.0f;
  p.logit_bias = {{0, -100.0f}, {kVocab - 1, 100.0f}};
  p.max_tokens = 1;
  p.min_tokens = 1;
  p.logprobs = 20;
  p.stop = std::vector<std::string>(16, "x");
  p.stop_token_ids = {0, kVocab - 1};
  EXPECT_NO_THROW(p.validate(kVocab));
  p.temperature = 5.0f;  // vLLM accepts any temperature >= 0
  p.top_k = 0;
  p.logprobs = 0;
  EXPECT_NO_THROW(p.validate(kVocab));
}

TEST(SamplingParamsValidate, MessageNamesFieldAndRange) {
  SamplingParams p;
  p.top_p = 1.5f;
  try {
    p.validate(kVocab);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "top_p must be in (0, 1], got 1.5");
  }
}

TEST(SamplingParamsValidate, EveryFieldRejectsBadValues) {
  for (int n : {0, -1, 129}) expect_rejected([n](auto& p) { p.n = n; }, "n must");
  for (float t : {-0.1f, kNaN, kInf})
    expect_rejected([t](auto& p) { p.temperature = t; }, "temperature");
  for (float v : {0.0f, -0.5f, 1.5f, kNaN}) expect_rejected([v](auto& p) { p.top_p = v; }, "top_p");
  for (int k : {-2, -100}) expect_rejected([k](auto& p) { p.top_k = k; }, "top_k");
  for (float v : {-0.1f, 1.1f, kNaN}) expect_rejected([v](auto& p) { p.min_p = v; }, "min_p");
  for (float v : {0.0f, -1.0f, kNaN, kInf}) {
    expect_rejected([v](auto& p) { p.repetition_penalty = v; }, "repetition_penalty");
  }
  for (float v : {-2.1f, 2.1f, kNaN}) {
    expect_rejected([v](auto& p) { p.frequency_penalty = v; }, "frequency_penalty");
    expect_rejected([v](auto& p) { p.presence_penalty = v; }, "presence_penalty");
  }
  for (int32_t id : {-1, static_cast<int32_t>(kVocab)}) {
    expect_rejected([id](auto& p) { p.logit_bias[id] = 1.0f; }, "logit_bias");
    expect_rejected([id](auto& p) { p.stop_token_ids = {5, id}; }, "stop_token_ids[1]");
  }
  for (float v : {-100.5f, 101.0f, kNaN}) {
    expect_rejected([v](auto& p) { p.logit_bias[3] = v; }, "logit_bias");
  }
  for (int64_t v : {0, -5}) expect_rejected([v](auto& p) { p.max_tokens = v; }, "max_tokens");
  expect_rejected([](auto& p) { p.min_tokens = -1; }, "min_tokens");
  expect_rejected([](auto& p) { p.min_tokens = p.max_tokens + 1; }, "min_tokens");
  for (int v : {-1, 21}) expect_rejected([v](auto& p) { p.logprobs = v; }, "logprobs");
  expect_rejected([](auto& p) { p.stop = {"a", ""}; }, "stop[1]");
  expect_rejected([](auto& p) { p.stop = std::vector<std::string>(17, "a"); }, "stop must");
}

}  // namespace
}  // namespace osprey
