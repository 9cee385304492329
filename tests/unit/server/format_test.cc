#include <gtest/gtest.h>

#include <cmath>

#include "server/metrics.h"
#include "server/openai_format.h"

namespace osprey::server {

namespace {

RequestOutput output(const std::string& delta, std::vector<int32_t> ids, size_t new_tokens,
                     std::optional<std::string> finish = std::nullopt) {
  RequestOutput o;
  o.request_id = "r";
  CompletionOutput c;
  c.token_ids = std::move(ids);
  c.delta_text = delta;
  c.num_new_tokens = new_tokens;
  c.finish_reason = finish;
  for (int32_t t : c.token_ids) c.logprobs.push_back({t, -0.5f, {{t, -0.5f}, {7, -1.0f}}});
  o.outputs.push_back(c);
  o.finished = finish.has_value();
  return o;
}

}  // namespace

TEST(OpenAIFormat, CompletionStreamAndFinal) {
  ResponseMeta m{false, "cmpl-1", 10, "tiny", 1, true, true};
  ResponseBuilder rb(m, nullptr, {3});
  EXPECT_TRUE(rb.opening_chunks().empty());
  auto c1 = rb.apply(0, output("ab", {5}, 1));
  ASSERT_EQ(c1.size(), 1u);
  EXPECT_EQ(c1[0]["object"], "text_completion");
  EXPECT_EQ(c1[0]["choices"][0]["text"], "ab");
  EXPECT_TRUE(c1[0]["usage"].is_null());
  EXPECT_EQ(c1[0]["choices"][0]["logprobs"]["tokens"][0], "token_id:5");
  EXPECT_EQ(c1[0]["choices"][0]["token_ids"], nlohmann::json::array({5}));  // no tokenizer: ids
  EXPECT_EQ(c1[0]["choices"][0]["logprobs"]["text_offset"][0], 0);
  auto o2 = output("c", {5, 6}, 1, "length");
  o2.outputs[0].text = "abc";
  auto c2 = rb.apply(0, o2);
  ASSERT_EQ(c2.size(), 2u);                                          // the text, then the finish
  EXPECT_EQ(c2[0]["choices"][0]["logprobs"]["text_offset"][0], 10);  // after "token_id:5"
  EXPECT_EQ(c2[1]["choices"][0]["finish_reason"], "length");
  auto f = rb.final_response();
  EXPECT_EQ(f["choices"][0]["text"], "abc");
  EXPECT_EQ(f["choices"][0]["logprobs"]["token_logprobs"].size(), 2u);
  EXPECT_EQ(f["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(f["usage"]["completion_tokens"], 2);
  EXPECT_EQ(f["usage"]["total_tokens"], 5);
  EXPECT_EQ(rb.usage_chunk()["choices"].size(), 0u);
}

// Without a tokenizer and without logprobs a token has no text: its chunk still goes out, with the
// id.
TEST(OpenAIFormat, TokenizerlessStreamsCarryTokenIds) {
  ResponseMeta m{false, "cmpl-1", 10, "tiny", 1, false, false};
  ResponseBuilder rb(m, nullptr, {3});
  auto c1 = rb.apply(0, output("", {9}, 1));
  ASSERT_EQ(c1.size(), 1u);
  EXPECT_EQ(c1[0]["choices"][0]["text"], "");
  EXPECT_EQ(c1[0]["choices"][0]["token_ids"], nlohmann::json::array({9}));
  auto c2 = rb.apply(0, output("", {9, 4, 2}, 2));
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0]["choices"][0]["token_ids"], nlohmann::json::array({4, 2}));
}

// vLLM's stop_reason: the token id (an integer) for stop_token_ids, the string for a stop string,
// null for EOS and for length.
TEST(OpenAIFormat, StopReasonIsTheTokenIdOrTheString) {
  ResponseMeta m{false, "cmpl-1", 10, "tiny", 1, false, false};
  ResponseBuilder rb(m, nullptr, {1, 1, 1});
  auto by_token = output("", {5}, 1, "stop");
  by_token.outputs[0].stop_token_id = 5;
  rb.apply(0, by_token);
  auto by_string = output("", {6}, 1, "stop");
  by_string.outputs[0].stop_reason = "\n\n";
  rb.apply(1, by_string);
  rb.apply(2, output("", {7}, 1, "stop"));
  const auto f = rb.final_response();
  EXPECT_EQ(f["choices"][0]["stop_reason"], 5);
  EXPECT_TRUE(f["choices"][0]["stop_reason"].is_number_integer());
  EXPECT_EQ(f["choices"][1]["stop_reason"], "\n\n");
  EXPECT_TRUE(f["choices"][2]["stop_reason"].is_null());
}

TEST(OpenAIFormat, ChatChoicesNumberedPerPromptAndN) {
  ResponseMeta m{true, "chatcmpl-1", 10, "tiny", 2, true, false};
  ResponseBuilder rb(m, nullptr, {4});
  auto open = rb.opening_chunks();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[1]["choices"][0]["delta"]["role"], "assistant");
  auto o = output("x", {9}, 1, "stop");
  o.outputs[0].index = 1;
  o.outputs[0].text = "x";
  auto chunks = rb.apply(0, o);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0]["choices"][0]["index"], 1);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"]["content"], "x");
  const auto& lp = chunks[0]["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(lp["token"], "token_id:9");
  EXPECT_EQ(lp["top_logprobs"].size(), 2u);
  EXPECT_TRUE(lp["bytes"].is_array());
  EXPECT_FALSE(chunks[0].contains("usage"));
  auto f = rb.final_response();
  EXPECT_EQ(f["object"], "chat.completion");
  EXPECT_EQ(f["choices"][1]["message"]["content"], "x");
  EXPECT_EQ(f["choices"][1]["finish_reason"], "stop");
}

TEST(OpenAIFormat, NegativeInfinityLogprobIsFinite) {
  EXPECT_EQ(finite_logprob(-INFINITY), -9999.0);
  EXPECT_EQ(finite_logprob(-1.5f), -1.5);
}

TEST(Metrics, HistogramIsCumulative) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const std::string s = h.render("x_seconds", "help", "m=\"a\"");
  EXPECT_NE(s.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(s.find("x_seconds_bucket{m=\"a\",le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(s.find("x_seconds_bucket{m=\"a\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(s.find("x_seconds_bucket{m=\"a\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(s.find("x_seconds_sum{m=\"a\"} 5.55\n"), std::string::npos);
  EXPECT_NE(s.find("x_seconds_count{m=\"a\"} 3\n"), std::string::npos);
}

TEST(Metrics, ExpositionHasEveryFamily) {
  Metrics m("tiny");
  m.request_finished("abort");
  EngineStats s;
  s.num_running = 2;
  s.kv_usage = 0.25;
  s.prompt_tokens = 12;
  const std::string t = m.render(s);
  EXPECT_NE(t.find("osprey:num_requests_running{model_name=\"tiny\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("osprey:kv_cache_usage_perc{model_name=\"tiny\"} 0.25\n"), std::string::npos);
  EXPECT_NE(t.find("osprey:prompt_tokens_total{model_name=\"tiny\"} 12\n"), std::string::npos);
  EXPECT_NE(
      t.find("osprey:request_success_total{model_name=\"tiny\",finished_reason=\"abort\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      t.find("osprey:request_success_total{model_name=\"tiny\",finished_reason=\"stop\"} 0\n"),
      std::string::npos);
  for (const char* name :
       {"osprey:num_requests_waiting", "osprey:prefix_cache_queries_total",
        "osprey:prefix_cache_hits_total", "osprey:num_preemptions_total",
        "osprey:generation_tokens_total", "osprey:time_to_first_token_seconds_bucket",
        "osprey:inter_token_latency_seconds_count", "osprey:e2e_request_latency_seconds_sum",
        "osprey:request_queue_time_seconds_bucket"}) {
    EXPECT_NE(t.find(name), std::string::npos) << name;
  }
  m.http_response("/v1/completions", 200);
  m.http_response("/v1/completions", 200);
  m.http_response("other", 404);
  const std::string t2 = m.render(s);
  EXPECT_NE(t2.find("osprey:http_requests_total{model_name=\"tiny\",route=\"/v1/completions\","
                    "status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(
      t2.find("osprey:http_requests_total{model_name=\"tiny\",route=\"other\",status=\"404\"} 1\n"),
      std::string::npos);
  EXPECT_EQ(prom_number(3.0), "3");
  EXPECT_EQ(prom_number(INFINITY), "+Inf");
}

}  // namespace osprey::server
