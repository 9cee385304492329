#include "server/openai_format.h"

#include <cmath>

#include "tokenizer/tokenizer.h"

namespace osprey::server {

using nlohmann::json;

std::string token_text(const Tokenizer* tok, int32_t id) {
  if (!tok) return "token_id:" + std::to_string(id);
  const int32_t one[] = {id};
  return tok->decode(one, /*skip_special_tokens=*/false);
}

double finite_logprob(float lp) {
  return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0;
}

json completion_logprobs(const Tokenizer* tok, std::span<const TokenLogprob> lps,
                         size_t text_offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(),
       offsets = json::array();
  for (const auto& lp : lps) {
    const std::string s = token_text(tok, lp.token);
    tokens.push_back(s);
    token_lps.push_back(finite_logprob(lp.logprob));
    json top = json::object();
    for (const auto& [t, v] : lp.top) top[token_text(tok, t)] = finite_logprob(v);
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += s.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_lps},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

namespace {

json token_entry(const Tokenizer* tok, int32_t id, float lp) {
  const std::string s = token_text(tok, id);
  json bytes = json::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return {{"token", s}, {"logprob", finite_logprob(lp)}, {"bytes", bytes}};
}

}  // namespace

json chat_logprobs(const Tokenizer* tok, std::span<const TokenLogprob> lps) {
  json content = json::array();
  for (const auto& lp : lps) {
    json e = token_entry(tok, lp.token, lp.logprob);
    json top = json::array();
    for (const auto& [t, v] : lp.top) top.push_back(token_entry(tok, t, v));
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return {{"content", content}};
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

ResponseBuilder::ResponseBuilder(ResponseMeta meta, const Tokenizer* tok,
                                 std::vector<int64_t> prompt_lengths,
                                 std::vector<std::string> echo_texts)
    : meta_(std::move(meta)),
      tok_(tok),
      prompt_lengths_(std::move(prompt_lengths)),
      echo_(std::move(echo_texts)),
      choices_(prompt_lengths_.size() * static_cast<size_t>(meta_.n)) {
  echo_.resize(prompt_lengths_.size());
}

json ResponseBuilder::chunk(size_t index, json delta_or_text, json logprobs,
                            const std::optional<std::string>& finish_reason) const {
  json c = {{"index", index}};
  c[meta_.chat ? "delta" : "text"] = std::move(delta_or_text);
  c["logprobs"] = std::move(logprobs);
  c["finish_reason"] = finish_reason ? json(*finish_reason) : json(nullptr);
  json j = {{"id", meta_.id},
            {"object", meta_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", meta_.created},
            {"model", meta_.model},
            {"choices", json::array({std::move(c)})}};
  if (meta_.include_usage) j["usage"] = nullptr;
  return j;
}

std::vector<json> ResponseBuilder::opening_chunks() const {
  std::vector<json> out;
  if (!meta_.chat) return out;
  for (size_t i = 0; i < choices_.size(); ++i) {
    out.push_back(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, std::nullopt));
  }
  return out;
}

std::vector<json> ResponseBuilder::apply(size_t p, const RequestOutput& out) {
  std::vector<json> chunks;
  for (const auto& co : out.outputs) {
    const size_t index = p * static_cast<size_t>(meta_.n) + static_cast<size_t>(co.index);
    if (index >= choices_.size()) continue;
    Choice& c = choices_[index];
    if (c.finish_reason) continue;  // already final
    std::string delta = co.delta_text;
    if (c.token_ids.empty() && c.text.empty() && !echo_[p].empty()) delta = echo_[p] + delta;
    const size_t new_tokens = std::min(co.num_new_tokens, co.token_ids.size());
    std::span<const TokenLogprob> new_lps;
    if (meta_.logprobs && co.logprobs.size() >= new_tokens) {
      new_lps = std::span<const TokenLogprob>(co.logprobs).subspan(co.logprobs.size() - new_tokens);
    }
    // A model without a tokenizer has no text to stream: its chunks carry the new token ids
    // instead (vLLM's "token_ids" field), so clients still see each token arrive.
    const bool ids_only = tok_ == nullptr && new_tokens > 0;
    if (!delta.empty() || !new_lps.empty() || ids_only) {
      json lps = nullptr;
      if (meta_.logprobs) {
        lps = meta_.chat ? chat_logprobs(tok_, new_lps)
                         : completion_logprobs(tok_, new_lps, c.text_offset);
      }
      if (meta_.chat) {
        chunks.push_back(chunk(index, {{"content", delta}}, std::move(lps), std::nullopt));
      } else {
        chunks.push_back(chunk(index, delta, std::move(lps), std::nullopt));
      }
      if (ids_only) {
        chunks.back()["choices"][0]["token_ids"] = std::vector<int32_t>(
            co.token_ids.end() - static_cast<std::ptrdiff_t>(new_tokens), co.token_ids.end());
      }
    }
    c.text += delta;
    for (const auto& lp : new_lps) c.text_offset += token_text(tok_, lp.token).size();
    c.token_ids = co.token_ids;
    if (meta_.logprobs) c.logprobs = co.logprobs;
    if (co.finish_reason) {
      c.finish_reason = co.finish_reason;
      c.stop_reason = co.stop_reason;
      c.stop_token_id = co.stop_token_id;
      // The final text is authoritative (stop strings trimmed); deltas already agree with it.
      c.text = echo_[p] + co.text;
      if (meta_.chat) {
        chunks.push_back(chunk(index, json::object(), nullptr, c.finish_reason));
      } else {
        chunks.push_back(chunk(index, "", nullptr, c.finish_reason));
      }
    }
  }
  return chunks;
}

int64_t ResponseBuilder::completion_tokens() const {
  int64_t n = 0;
  for (const auto& c : choices_) n += static_cast<int64_t>(c.token_ids.size());
  return n;
}

int64_t ResponseBuilder::prompt_tokens() const {
  int64_t n = 0;
  for (int64_t l : prompt_lengths_) n += l;  // once per prompt, whatever n is
  return n;
}

json ResponseBuilder::usage() const {
  return usage_json(prompt_tokens(), completion_tokens());
}

json ResponseBuilder::usage_chunk() const {
  return {{"id", meta_.id},
          {"object", meta_.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", meta_.created},
          {"model", meta_.model},
          {"choices", json::array()},
          {"usage", usage()}};
}

json ResponseBuilder::stop_reason_json(const Choice& c) const {
  if (c.stop_token_id) return *c.stop_token_id;
  return c.stop_reason ? json(*c.stop_reason) : json(nullptr);
}

json ResponseBuilder::final_response() const {
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json lps = nullptr;
    if (meta_.logprobs) {
      lps = meta_.chat ? chat_logprobs(tok_, c.logprobs) : completion_logprobs(tok_, c.logprobs, 0);
    }
    json choice = {{"index", i}};
    if (meta_.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = std::move(lps);
    choice["finish_reason"] = c.finish_reason ? json(*c.finish_reason) : json(nullptr);
    choice["stop_reason"] = stop_reason_json(c);
    choices.push_back(std::move(choice));
  }
  return {{"id", meta_.id},
          {"object", meta_.chat ? "chat.completion" : "text_completion"},
          {"created", meta_.created},
          {"model", meta_.model},
          {"choices", std::move(choices)},
          {"usage", usage()}};
}

}  // namespace osprey::server
