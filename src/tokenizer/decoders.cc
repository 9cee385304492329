#include "tokenizer/decoders.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace osprey::tok {

namespace {

// Bytes back from the GPT-2 alphabet; a token with a char outside it (an added token such as
// DeepSeek's "<｜begin▁of▁sentence｜>") passes through as its UTF-8, as HF does.
class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      if (!byte_level_decode(t, bytes)) bytes += t;
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

// "<0xXX>" tokens become bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per byte.
class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t n_bytes = 0;
    auto flush = [&] {
      if (n_bytes == 0) return;
      if (is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        std::string rep;
        for (size_t k = 0; k < n_bytes; ++k) rep += kReplacementChar;
        out.push_back(std::move(rep));
      }
      bytes.clear();
      n_bytes = 0;
    };
    for (auto& t : tokens) {
      int b = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        b = parse_hex(t[3], t[4]);
      }
      if (b >= 0) {
        bytes += static_cast<char>(b);
        ++n_bytes;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_hex(char a, char b) {
    const int h = hex(a), l = hex(b);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing chars equal to `content` from every token.
class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0 && b < e; ++k) {
        b += content_.size();
      }
      for (size_t k = 0; k < stop_ && e >= b + content_.size() &&
                         t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++k) {
        e -= content_.size();
      }
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(std::unique_ptr<Regex> re, std::string literal, std::string content)
      : re_(std::move(re)), literal_(std::move(literal)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t last = 0;
      if (re_) {
        std::vector<std::pair<size_t, size_t>> m;
        re_->find_all(t, m);
        for (auto [b, e] : m) {
          if (e == b) continue;
          out.append(t, last, b - last);
          out += content_;
          last = e;
        }
      } else if (!literal_.empty()) {
        for (size_t p = t.find(literal_); p != std::string::npos; p = t.find(literal_, last)) {
          out.append(t, last, p - last);
          out += content_;
          last = p + literal_.size();
        }
      }
      if (last == 0) continue;
      out.append(t, last);
      t = std::move(out);
    }
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string literal_, content_;
};

// Metaspace: the replacement char becomes a space, except that in the first token it is dropped
// (when a prefix was prepended), exactly as HF's decode_chain does.
class Metaspace : public Decoder {
 public:
  Metaspace(std::string rep, bool strip_first) : rep_(std::move(rep)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (rep_.empty() || t.find(rep_) == std::string::npos) continue;
      std::string out;
      size_t last = 0;
      for (size_t p = t.find(rep_); p != std::string::npos; p = t.find(rep_, last)) {
        out.append(t, last, p - last);
        if (!(i == 0 && strip_first_)) out += ' ';
        last = p + rep_.size();
      }
      out.append(t, last);
      t = std::move(out);
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, std::string_view where) {
  if (j.is_null()) return nullptr;
  const NestingGuard guard(where, "decoder");
  const std::string type = json_type(j, where, "decoder");
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    return std::make_unique<Strip>(json_string(j, "content", where), j.value("start", size_t{0}),
                                   j.value("stop", size_t{0}));
  }
  if (type == "Replace") {
    auto [re, literal] = json_pattern(j, where, "Replace decoder");
    return std::make_unique<Replace>(std::move(re), std::move(literal),
                                     json_string(j, "content", where));
  }
  if (type == "Metaspace") {
    bool strip_first = true;
    if (const auto it = j.find("prepend_scheme"); it != j.end() && it->is_string()) {
      strip_first = it->get<std::string>() != "never";
    } else if (j.contains("add_prefix_space")) {
      strip_first = j.value("add_prefix_space", true);
    }
    return std::make_unique<Metaspace>(j.value("replacement", std::string("\xE2\x96\x81")),
                                       strip_first);
  }
  if (type == "Sequence") {
    const auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) {
      invalid_input("{}: Sequence decoder without a 'decoders' array", where);
    }
    std::vector<std::unique_ptr<Decoder>> items;
    for (const auto& d : *it) {
      if (auto p = make_decoder(d, where)) items.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(items));
  }
  unsupported("{}: decoder type '{}' is not supported", where, type);
}

}  // namespace osprey::tok
