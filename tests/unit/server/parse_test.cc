#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/openai_parse.h"

namespace osprey::server {

namespace {

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

}  // namespace

TEST(OpenAIParse, CompletionFieldsIntoSamplingParams) {
  auto r = parse_completion_request(parse_json_body(
      R"({"model":"m","prompt":"hi","n":2,"temperature":0,"top_p":0.5,"max_tokens":7,"stop":"x","seed":-3,
          "logprobs":2,"logit_bias":{"5":-100},"top_k":4,"min_p":0.1,"ignore_eos":true,"min_tokens":1,
          "priority":3,"stream":true,"stream_options":{"include_usage":true},"user":"u"})"));
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(*r.prompts[0].text, "hi");
  EXPECT_EQ(r.params.n, 2);
  EXPECT_EQ(r.params.temperature, 0.0f);
  EXPECT_EQ(r.params.max_tokens, 7);
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(*r.params.seed, static_cast<uint64_t>(int64_t{-3}));
  EXPECT_EQ(*r.params.logprobs, 2);
  EXPECT_EQ(r.params.logit_bias.at(5), -100.0f);
  EXPECT_EQ(r.params.top_k, 4);
  EXPECT_TRUE(r.params.ignore_eos);
  EXPECT_EQ(r.priority, 3);
  EXPECT_TRUE(r.stream && r.include_usage);
}

TEST(OpenAIParse, PromptForms) {
  auto ids = parse_completion_request(parse_json_body(R"({"prompt":[1,2,3]})"));
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_EQ(ids.prompts[0].token_ids, (std::vector<int32_t>{1, 2, 3}));
  auto many = parse_completion_request(parse_json_body(R"({"prompt":["a","b",[4]]})"));
  ASSERT_EQ(many.prompts.size(), 3u);
  EXPECT_EQ(*many.prompts[1].text, "b");
  EXPECT_EQ(many.prompts[2].token_ids, std::vector<int32_t>{4});
}

TEST(OpenAIParse, ChatLogprobs) {
  auto r = parse_chat_request(parse_json_body(
      R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":3,
                         "max_completion_tokens":5})"));
  EXPECT_TRUE(r.chat);
  EXPECT_EQ(*r.params.logprobs, 3);
  EXPECT_EQ(r.params.max_tokens, 5);
  EXPECT_TRUE(r.max_tokens_given);
}

TEST(OpenAIParse, BadInputIs400) {
  EXPECT_EQ(status_of([] { parse_json_body(R"({"prompt": "x")"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_body(std::string("{\"prompt\":\"\xff\"}")); }), 400);
  EXPECT_EQ(status_of([] { parse_json_body(""); }), 400);
  for (const char* body :
       {R"([1,2])", R"({})", R"({"prompt":5})", R"({"prompt":[]})", R"({"prompt":"x","n":0})",
        R"({"prompt":"x","n":"2"})", R"({"prompt":"x","max_tokens":1.5})",
        R"({"prompt":"x","temperature":"hot"})", R"({"prompt":"x","stop":[1]})",
        R"({"prompt":"x","logit_bias":{"a":1}})", R"({"prompt":"x","logit_bias":{"1":200}})",
        R"({"prompt":"x","logprobs":21})", R"({"prompt":"x","stream_options":{}})",
        R"({"prompt":[1,-2]})", R"({"prompt":"x","seed":1e3})"}) {
    EXPECT_EQ(status_of([&] { parse_completion_request(parse_json_body(body)); }), 400) << body;
  }
  EXPECT_EQ(status_of([] { parse_chat_request(parse_json_body(R"({"messages":[]})")); }), 400);
  EXPECT_EQ(
      status_of([] { parse_chat_request(parse_json_body(R"({"messages":[{"content":"x"}]})")); }),
      400);
  EXPECT_EQ(
      status_of([] {
        parse_chat_request(parse_json_body(R"({"messages":[{"role":"user"}],"top_logprobs":2})"));
      }),
      400);
}

TEST(OpenAIParse, ResolveChecksVocabularyContextAndParams) {
  auto r = parse_completion_request(parse_json_body(R"({"prompt":[1,2,3],"max_tokens":4})"));
  auto ids = resolve_prompts(r, nullptr, 100, 16);
  EXPECT_EQ(ids[0].size(), 3u);
  auto text = parse_completion_request(parse_json_body(R"({"prompt":"no tokenizer"})"));
  EXPECT_EQ(status_of([&] { resolve_prompts(text, nullptr, 100, 16); }), 400);
  auto oov = parse_completion_request(parse_json_body(R"({"prompt":[100]})"));
  EXPECT_EQ(status_of([&] { resolve_prompts(oov, nullptr, 100, 16); }), 400);
  auto longp = parse_completion_request(parse_json_body(R"({"prompt":[1,2,3,4],"max_tokens":1})"));
  EXPECT_EQ(status_of([&] { resolve_prompts(longp, nullptr, 100, 4); }), 400);
  auto too_many = parse_completion_request(parse_json_body(R"({"prompt":[1,2],"max_tokens":20})"));
  EXPECT_EQ(status_of([&] { resolve_prompts(too_many, nullptr, 100, 16); }), 400);
  auto top_p = parse_completion_request(parse_json_body(R"({"prompt":[1],"top_p":1.5})"));
  EXPECT_EQ(status_of([&] { resolve_prompts(top_p, nullptr, 100, 16); }), 400);
}

TEST(ApiErrors, EngineErrorsMapToStatuses) {
  EXPECT_EQ(engine_error("the waiting queue is full (3 requests)", false).status(), 429);
  EXPECT_EQ(engine_error("the waiting queue is full (3 requests)", false).retry_after(), 1);
  EXPECT_EQ(engine_error("the server is shutting down", true).status(), 503);
  EXPECT_EQ(engine_error("the engine is shutting down", false).status(), 503);
  EXPECT_EQ(engine_error("bad prompt", true).status(), 400);
  EXPECT_EQ(engine_error("engine error: boom", false).status(), 500);
  auto j = error_json(ApiError(400, "msg", "top_p"));
  EXPECT_EQ(j["error"]["message"], "msg");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "top_p");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(error_json(401, "k")["error"]["type"], "authentication_error");
}

}  // namespace osprey::server
