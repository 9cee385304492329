#include "tokenizer/tokenizer_json.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace osprey::tok {

namespace {

using json = nlohmann::json;
using Dom = nlohmann::detail::json_sax_dom_parser<json>;

// Forwards every event to the DOM builder except those inside model.vocab and model.merges, which
// it collects itself.
class Sax {
 public:
  Sax(TokenizerJson& out, std::string_view where) : out_(out), dom_(out.rest), where_(where) {}

  bool null() { return value("null") && (mode_ != Mode::kNone || dom_.null()); }
  bool boolean(bool v) { return value("boolean") && (mode_ != Mode::kNone || dom_.boolean(v)); }
  bool number_integer(int64_t v) {
    if (mode_ == Mode::kVocab) return vocab_id(v);
    return value("number") && (mode_ != Mode::kNone || dom_.number_integer(v));
  }
  bool number_unsigned(uint64_t v) {
    if (mode_ == Mode::kVocab) {
      return vocab_id(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
    }
    return value("number") && (mode_ != Mode::kNone || dom_.number_unsigned(v));
  }
  bool number_float(double v, const std::string& s) {
    return value("number") && (mode_ != Mode::kNone || dom_.number_float(v, s));
  }
  bool string(std::string& s) {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 1) {
        // "a b" form.
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          return error(fmt::format("merge {} ('{}') is not two tokens separated by a space",
                                   out_.merges.size(), s));
        }
        out_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        return true;
      }
      if (pair_.size() >= 2)
        return error(fmt::format("merge {} has more than two tokens", out_.merges.size()));
      pair_.push_back(std::move(s));
      return true;
    }
    return value("string") && (mode_ != Mode::kNone || dom_.string(s));
  }
  bool binary(json::binary_t& b) { return mode_ == Mode::kNone ? dom_.binary(b) : value("binary"); }

  bool start_object(std::size_t n) {
    if (mode_ == Mode::kNone && at_model_field("vocab")) {
      mode_ = Mode::kVocab;
      out_.has_vocab = true;
      return dom_.start_object(0);
    }
    if (mode_ != Mode::kNone) return error("unexpected object inside model.vocab/merges");
    stack_.push_back({true, {}});
    return dom_.start_object(n);
  }
  bool key(std::string& k) {
    if (mode_ == Mode::kVocab) {
      key_ = std::move(k);
      return true;
    }
    stack_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kNone;
      return dom_.end_object();
    }
    stack_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (mode_ == Mode::kNone && at_model_field("merges")) {
      mode_ = Mode::kMerges;
      merge_depth_ = 1;
      out_.has_merges = true;
      return dom_.start_array(0);
    }
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ != 1) return error("merges nested too deeply");
      merge_depth_ = 2;
      pair_.clear();
      return true;
    }
    if (mode_ == Mode::kVocab) return error("unexpected array inside model.vocab");
    stack_.push_back({false, {}});
    return dom_.start_array(n);
  }
  bool end_array() {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 2) {
        if (pair_.size() != 2) {
          return error(
              fmt::format("merge {} is neither \"a b\" nor [\"a\", \"b\"]", out_.merges.size()));
        }
        out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
        merge_depth_ = 1;
        return true;
      }
      mode_ = Mode::kNone;
      return dom_.end_array();
    }
    stack_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    invalid_input("{}: invalid JSON at byte {}: {}", where_, pos, e.what());
  }

 private:
  enum class Mode { kNone, kVocab, kMerges };
  struct Level {
    bool object;
    std::string key;
  };

  // True when the value about to start is root["model"][field].
  bool at_model_field(std::string_view field) const {
    return stack_.size() == 2 && stack_[0].object && stack_[0].key == "model" && stack_[1].object &&
           stack_[1].key == field;
  }
  bool value(std::string_view what) {
    if (mode_ == Mode::kVocab)
      return error(fmt::format("vocab entry '{}' is a {}, not an id", key_, what));
    if (mode_ == Mode::kMerges)
      return error(fmt::format("merge {} contains a {}", out_.merges.size(), what));
    return true;
  }
  bool vocab_id(int64_t v) {
    out_.vocab.emplace_back(std::move(key_), v);
    return true;
  }
  bool error(const std::string& msg) { invalid_input("{}: model {}", where_, msg); }

  TokenizerJson& out_;
  Dom dom_;
  std::string_view where_;
  std::vector<Level> stack_;
  Mode mode_ = Mode::kNone;
  int merge_depth_ = 0;
  std::vector<std::string> pair_;
  std::string key_;
};

}  // namespace

TokenizerJson parse_tokenizer_json(std::string_view text, std::string_view where) {
  TokenizerJson out;
  Sax sax(out, where);
  try {
    nlohmann::json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: invalid JSON: {}", where, e.what());
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::kIo, "{}: cannot open file", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(ErrorKind::kIo, "{}: read error", path);
  return ss.str();
}

std::vector<std::pair<std::string, std::string>> merges_of(const TokenizerJson& parsed,
                                                           std::string_view where) {
  if (parsed.has_merges) return parsed.merges;
  const auto model = parsed.rest.find("model");
  const json m =
      model != parsed.rest.end() && model->is_object() ? model->value("merges", json()) : json();
  std::vector<std::pair<std::string, std::string>> merges;
  if (m.is_null()) return merges;
  if (!m.is_array()) invalid_input("{}: model.merges is not an array", where);
  merges.reserve(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const auto& e = m[i];
    if (e.is_string()) {
      // "a b": tokens never contain a space in this form (it is written as the byte-level 'Ġ' or
      // '▁').
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        invalid_input("{}: merge {} ('{}') is not two tokens separated by a space", where, i, s);
      }
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      invalid_input("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", where, i);
    }
  }
  return merges;
}

}  // namespace osprey::tok
