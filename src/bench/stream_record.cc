#include "bench/stream_record.h"

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace osprey::bench {

namespace {

using json = nlohmann::json;

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// Tokens in one chunk's logprobs: completions {"tokens": [...]}, chat {"content": [...]}.
int64_t logprob_count(const json& lp) {
  if (const json* t = member(lp, "tokens"); t && t->is_array())
    return static_cast<int64_t>(t->size());
  if (const json* c = member(lp, "content"); c && c->is_array())
    return static_cast<int64_t>(c->size());
  return 0;
}

}  // namespace

void StreamAccumulator::on_body(std::string_view bytes, double t) {
  sse_.feed(bytes, [&](std::string_view data) { on_event(data, t); });
}

void StreamAccumulator::on_event(std::string_view data, double t) {
  last_event_ = t;
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    bad_json_ = true;
    return;
  }
  if (const json* e = member(j, "error")) {
    if (stream_error_.empty()) stream_error_ = e->dump();
    return;
  }
  if (const json* u = member(j, "usage")) {
    if (const json* c = member(*u, "completion_tokens"); c && c->is_number_integer()) {
      usage_completion_ = c->get<int64_t>();
    }
    if (const json* p = member(*u, "prompt_tokens"); p && p->is_number_integer()) {
      r_.prompt_len = p->get<int64_t>();
      r_.prompt_len_from_usage = true;
    }
  }
  const json* choices = member(j, "choices");
  if (!choices || !choices->is_array() || choices->empty()) return;
  const json& c = (*choices)[0];
  std::string text;
  if (const json* s = member(c, "text"); s && s->is_string()) text = s->get<std::string>();
  if (const json* d = member(c, "delta")) {
    for (const char* k : {"content", "reasoning_content"}) {
      if (const json* s = member(*d, k); s && s->is_string()) text += s->get<std::string>();
    }
  }
  int64_t lp_tokens = 0;
  if (const json* lp = member(c, "logprobs")) {
    lp_tokens = logprob_count(*lp);
    if (lp_tokens > 0) saw_logprobs_ = true;
    logprob_tokens_ += lp_tokens;
  }
  // Servers without a tokenizer (osprey serve on a bare checkpoint) stream token ids, no text.
  const json* ids = member(c, "token_ids");
  const bool has_ids = ids && ids->is_array() && !ids->empty();
  if (has_ids) {
    saw_ids_ = true;
    id_tokens_ += static_cast<int64_t>(ids->size());
  }
  if (text.empty() && lp_tokens == 0 && !has_ids) return;
  const double since_send = t - r_.start;
  if (r_.chunk_times.empty()) {
    r_.ttft = since_send;
  } else {
    r_.itl.push_back(t - r_.chunk_times.back());
  }
  r_.chunk_times.push_back(t);
  r_.text += text;
}

RequestRecord StreamAccumulator::finish(const TransferOutcome& out, double t_end,
                                        const Tokenizer* tok) {
  if (out.failure.empty()) {
    if (sse_.finish([&](std::string_view data) { on_event(data, t_end); })) ++r_.ignored_lines;
  }
  r_.latency = (last_event_ >= 0 ? last_event_ : t_end) - r_.start;
  r_.ignored_lines += sse_.ignored_lines();
  auto failed = [&](std::string kind, std::string detail) {
    r_.error = std::move(kind);
    r_.error_detail = std::move(detail);
  };
  if (!out.failure.empty()) {
    failed(out.failure, out.detail);
  } else if (sse_.overflowed()) {
    failed("malformed_sse", "a line of the event stream exceeded the parser's limit");
  } else if (!stream_error_.empty()) {
    failed("stream_error", stream_error_);
  } else if (bad_json_) {
    failed("malformed_sse", "an event's data was not a JSON object");
  } else if (!done_) {
    failed("malformed_sse", "the stream ended without data: [DONE]");
  } else if (r_.chunk_times.empty()) {
    failed("no_output", "the stream carried no output text or tokens");
  }
  if (usage_completion_ >= 0) {
    r_.output_len = usage_completion_;
    r_.token_source = "usage";
  } else if (saw_logprobs_) {
    r_.output_len = logprob_tokens_;
    r_.token_source = "logprobs";
  } else if (saw_ids_) {
    r_.output_len = id_tokens_;
    r_.token_source = "token_ids";
  } else if (tok) {
    r_.output_len = static_cast<int64_t>(tok->encode(r_.text, false).size());
    r_.token_source = "tokenizer";
  } else {
    r_.output_len = static_cast<int64_t>(r_.chunk_times.size());
    r_.token_source = "chunks";
  }
  r_.success = r_.error.empty();
  if (r_.success && r_.output_len > 1) {
    r_.tpot = (r_.latency - r_.ttft) / static_cast<double>(r_.output_len - 1);
  }
  return std::move(r_);
}

}  // namespace osprey::bench
