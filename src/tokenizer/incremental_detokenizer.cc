#include "tokenizer/incremental_detokenizer.h"

#include "tokenizer/unicode.h"

namespace osprey {

IncrementalDetokenizer::IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer,
                                               bool skip_special_tokens)
    : tok_(std::move(tokenizer)), skip_special_(skip_special_tokens) {}

std::string IncrementalDetokenizer::decode(size_t begin, size_t end) const {
  return tok_->decode(std::span<const int32_t>(ids_.data() + begin, end - begin), skip_special_);
}

std::string IncrementalDetokenizer::push(int32_t id) {
  ids_.push_back(id);
  if (tok_->is_byte_token(id)) return {};  // the byte run is still open
  const std::string prefix_text = decode(prefix_offset_, read_offset_);
  std::string new_text = decode(prefix_offset_, ids_.size());
  if (new_text.size() <= prefix_text.size() ||
      new_text.compare(0, prefix_text.size(), prefix_text) != 0) {
    return {};
  }
  if (std::string_view(new_text).ends_with(tok::kReplacementChar)) return {};
  std::string delta = new_text.substr(prefix_text.size());
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  emitted_ += delta;
  return delta;
}

std::string IncrementalDetokenizer::push(std::span<const int32_t> ids) {
  std::string out;
  for (int32_t id : ids) out += push(id);
  return out;
}

std::string IncrementalDetokenizer::finish() {
  // The whole decode is the truth; what was emitted is a prefix of it by construction.
  const std::string full = tok_->decode(ids_, skip_special_);
  std::string rest =
      full.size() > emitted_.size() && full.compare(0, emitted_.size(), emitted_) == 0
          ? full.substr(emitted_.size())
          : std::string();
  prefix_offset_ = read_offset_ = ids_.size();
  emitted_ += rest;
  return rest;
}

}  // namespace osprey
