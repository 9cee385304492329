#include "server/openai_service.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "server/api_error.h"
#include "server/openai_format.h"
#include "server/openai_parse.h"
#include "server/output_channel.h"
#include "server/sse.h"
#include "tokenizer/tokenizer.h"

namespace osprey::server {

namespace {

using nlohmann::json;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// JSON bodies only; a missing Content-Type is taken as JSON (curl -d without -H is common).
void require_json(const Exchange& ex) {
  auto ct = ex.request()[http::field::content_type];
  if (ct.empty()) return;
  std::string v(ct.data(), ct.size());
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  if (!beast::iequals(v, "application/json")) {
    throw ApiError(400, "Content-Type must be application/json, got '" + std::string(ct) + "'");
  }
}

// Aborts the engine requests of an HTTP request that did not see them finish (client gone, error).
struct AbortGuard {
  AsyncEngine& engine;
  std::vector<std::string> ids;
  std::vector<bool> finished;
  void abort_all() {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!finished[i]) engine.abort(ids[i]);
    }
  }
  ~AbortGuard() { abort_all(); }
};

}  // namespace

OpenAIService::OpenAIService(AsyncEngine& engine, ServiceOptions opts)
    : engine_(engine),
      opts_(std::move(opts)),
      metrics_(opts_.model_name),
      created_(unix_seconds()) {
  next_id_ = std::random_device{}();
  next_id_ = next_id_ << 32 | std::random_device{}();
  auto route = [this](http::verb m, const char* path, auto fn) {
    router_.add(m, path, [this, fn](Exchange& ex) { return (this->*fn)(ex); });
  };
  router_.add(http::verb::post, "/v1/completions",
              [this](Exchange& ex) { return generate(ex, false); });
  router_.add(http::verb::post, "/v1/chat/completions",
              [this](Exchange& ex) { return generate(ex, true); });
  route(http::verb::get, "/v1/models", &OpenAIService::models);
  route(http::verb::post, "/tokenize", &OpenAIService::tokenize);
  route(http::verb::post, "/detokenize", &OpenAIService::detokenize);
  // The server listens only once the model is loaded, so /health is 200 whenever it answers at all
  // (a load balancer sees "connection refused" while loading, and 503 once shutting down).
  router_.add(http::verb::get, "/health", [this](Exchange& ex) -> net::awaitable<void> {
    if (shutting_down_) throw ApiError(503, "the server is shutting down");
    co_await ex.respond(200, "", "text/plain");
  });
  router_.add(http::verb::get, "/version", [this](Exchange& ex) -> net::awaitable<void> {
    std::string body = json_body({{"version", opts_.version}});
    co_await ex.respond(200, std::move(body));
  });
  router_.add(http::verb::get, "/metrics", [this](Exchange& ex) -> net::awaitable<void> {
    co_await ex.respond(200, metrics_.render(engine_.stats()),
                        "text/plain; version=0.0.4; charset=utf-8");
  });
}

net::awaitable<void> OpenAIService::handle(Exchange& ex) {
  auto auth = ex.request()[http::field::authorization];
  if (!opts_.api_key.empty() && ex.path().starts_with("/v1/") &&
      std::string_view(auth.data(), auth.size()) != "Bearer " + opts_.api_key) {
    co_await respond_error(ex, 401, "invalid or missing API key (Authorization: Bearer <key>)", "",
                           "invalid_api_key");
  } else {
    co_await router_.dispatch(ex);
  }
  metrics_.http_response(router_.has(ex.path()) ? ex.path() : "other", ex.status());
}

net::awaitable<void> OpenAIService::models(Exchange& ex) {
  json model = {{"id", opts_.model_name},   {"object", "model"},
                {"created", created_},      {"owned_by", "osprey"},
                {"root", opts_.model_name}, {"max_model_len", engine_.max_model_len()}};
  std::string body = json_body({{"object", "list"}, {"data", json::array({model})}});
  co_await ex.respond(200, std::move(body));
}

net::awaitable<void> OpenAIService::tokenize(Exchange& ex) {
  require_json(ex);
  const json body = parse_json_body(ex.request().body());
  auto tok = engine_.tokenizer();
  const std::vector<int32_t> ids = tokenize_request(body, tok.get());
  std::string out = json_body(
      {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", engine_.max_model_len()}});
  co_await ex.respond(200, std::move(out));
}

net::awaitable<void> OpenAIService::detokenize(Exchange& ex) {
  require_json(ex);
  const json body = parse_json_body(ex.request().body());
  auto tok = engine_.tokenizer();
  if (!tok) throw ApiError(400, "this model has no tokenizer");
  if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array()) {
    throw ApiError(400, "'tokens' (a list of token ids) is required", "tokens");
  }
  std::vector<int32_t> ids;
  for (const auto& t : body["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok->vocab_size()) {
      throw ApiError(400, "'tokens' must be token ids in the vocabulary, got " + t.dump(),
                     "tokens");
    }
    ids.push_back(t.get<int32_t>());
  }
  std::string out = json_body({{"prompt", tok->decode(ids)}});
  co_await ex.respond(200, std::move(out));
}

net::awaitable<void> OpenAIService::generate(Exchange& ex, bool chat) {
  const double received = steady_seconds();
  require_json(ex);
  const json body = parse_json_body(ex.request().body());
  ParsedRequest req = chat ? parse_chat_request(body) : parse_completion_request(body);
  if (!req.model.empty() && req.model != opts_.model_name) {
    throw ApiError(404,
                   fmt::format("The model '{}' does not exist; this server serves '{}'", req.model,
                               opts_.model_name),
                   "model", "model_not_found");
  }
  if (shutting_down_) throw ApiError(503, "the server is shutting down");
  if (req.echo && req.params.logprobs)
    throw ApiError(400, "'echo' with 'logprobs' is not supported", "echo");
  auto tok = engine_.tokenizer();
  const auto prompts =
      resolve_prompts(req, tok.get(), engine_.vocab_size(), engine_.max_model_len());

  ResponseMeta meta;
  meta.chat = chat;
  meta.id = fmt::format("{}{:016x}", chat ? "chatcmpl-" : "cmpl-", next_id_++);
  meta.created = unix_seconds();
  meta.model = opts_.model_name;
  meta.n = req.params.n;
  meta.logprobs = req.params.logprobs.has_value();
  meta.include_usage = req.include_usage;
  std::vector<int64_t> lengths;
  std::vector<std::string> echo;
  for (size_t p = 0; p < prompts.size(); ++p) {
    lengths.push_back(static_cast<int64_t>(prompts[p].size()));
    if (req.echo)
      echo.push_back(req.prompts[p].text ? *req.prompts[p].text
                                         : (tok ? tok->decode(prompts[p]) : ""));
  }
  ResponseBuilder rb(meta, tok.get(), lengths, echo);

  auto channel = std::make_shared<OutputChannel>(ex.executor());
  AbortGuard guard{engine_, {}, {}};
  std::map<std::string, size_t, std::less<>> index_of;
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::string id = prompts.size() == 1 ? meta.id : fmt::format("{}-{}", meta.id, p);
    try {
      engine_.add_request(id, Prompt{std::nullopt, prompts[p]}, req.params, req.priority,
                          [channel](const RequestOutput& o) { channel->push(o); });
    } catch (const Error& e) {
      throw engine_error(e.what(), e.kind() == ErrorKind::kInvalidInput);
    }
    index_of[id] = p;
    guard.ids.push_back(std::move(id));
    guard.finished.push_back(false);
  }

  std::optional<ApiError> failure;
  bool started = false, client_gone = false;
  size_t remaining = prompts.size();
  double last_token = 0;
  std::vector<bool> saw_first(prompts.size(), false);
  auto write = [&](std::string_view data) -> net::awaitable<void> {
    if (client_gone || failure) co_return;
    if (!co_await ex.stream_write(data)) {
      client_gone = true;  // the guard's aborts free the KV blocks at the next step
      guard.abort_all();
    }
  };
  auto watch = ex.watch_disconnect([&] {
    if (client_gone) return;
    client_gone = true;  // the aborts come back through the channel and end the loop below
    guard.abort_all();
  });
  while (remaining > 0) {
    RequestOutput out = co_await channel->next();
    auto it = index_of.find(out.request_id);
    if (it == index_of.end()) continue;
    const size_t p = it->second;
    const double now = steady_seconds();
    if (!out.error.empty()) {
      if (!failure) failure = engine_error(out.error, false);
      guard.abort_all();
    } else {
      if (!saw_first[p] && out.first_token_time > 0) {
        saw_first[p] = true;
        metrics_.ttft.observe(out.first_token_time - out.arrival_time);
        metrics_.queue_time.observe(std::max(0.0, out.arrival_time - received));
      } else if (!out.outputs.empty() && out.outputs[0].num_new_tokens > 0 && last_token > 0) {
        metrics_.inter_token.observe((now - last_token) /
                                     static_cast<double>(out.outputs[0].num_new_tokens));
      }
      if (!out.outputs.empty() && out.outputs[0].num_new_tokens > 0) last_token = now;
      auto chunks = rb.apply(p, out);
      if (req.stream && !started && !failure && !client_gone) {
        started = true;
        if (!co_await ex.start_stream()) {
          client_gone = true;
          guard.abort_all();
        }
        for (const auto& c : rb.opening_chunks()) co_await write(sse_event(c));
      }
      if (req.stream) {
        for (const auto& c : chunks) co_await write(sse_event(c));
      }
    }
    if (out.finished) {
      --remaining;
      guard.finished[p] = true;
      if (out.finished_time > 0) metrics_.e2e.observe(out.finished_time - out.arrival_time);
      const auto& reason =
          !out.error.empty() || out.outputs.empty() || !out.outputs[0].finish_reason
              ? std::string("abort")
              : *out.outputs[0].finish_reason;
      metrics_.request_finished(reason);
    }
  }

  int status = 200;
  if (req.stream && started) {
    if (failure) {
      const ApiError f = *failure;
      status = f.status();
      failure.reset();  // reported in the stream, whose status line is long sent
      co_await write(sse_event(error_json(f)));
    }
    if (req.include_usage) co_await write(sse_event(rb.usage_chunk()));
    co_await write(kSseDone);
    if (!client_gone) co_await ex.end_stream();
  } else if (!failure && !client_gone) {
    co_await ex.respond(200, json_body(rb.final_response()));
  }
  if (failure) status = failure->status();
  if (client_gone) status = 499;  // nginx's "client closed request"
  log::info("request {} {} status={} prompt_tokens={} completion_tokens={} latency={:.3f}s{}",
            meta.id, chat ? "chat" : "completion", status, rb.prompt_tokens(),
            rb.completion_tokens(), steady_seconds() - received,
            client_gone ? " client_disconnected" : "");
  if (failure) throw *failure;
}

}  // namespace osprey::server
