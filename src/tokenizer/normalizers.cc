#include "tokenizer/normalizers.h"

#include <utf8proc.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace osprey::tok {

std::string unicode_normalize(std::string_view text, UnicodeForm form) {
  // ASCII is invariant under every form; most text is, so skip the copy.
  bool ascii = true;
  for (char c : text) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);
  int opts = UTF8PROC_STABLE;
  switch (form) {
    case UnicodeForm::kNFC:
      opts |= UTF8PROC_COMPOSE;
      break;
    case UnicodeForm::kNFD:
      opts |= UTF8PROC_DECOMPOSE;
      break;
    case UnicodeForm::kNFKC:
      opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case UnicodeForm::kNFKD:
      opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
  }
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                              static_cast<utf8proc_ssize_t>(text.size()), &out,
                              static_cast<utf8proc_option_t>(opts));
  if (n < 0) return std::string(text);  // only on invalid UTF-8, which encode has already repaired
  std::string result(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm f) : form_(f) {}
  void normalize(std::string& text) const override { text = unicode_normalize(text, form_); }

 private:
  UnicodeForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(utf8_next(text, i))));
    }
    text = std::move(out);
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t b = 0, e = text.size();
    if (left_) {
      while (b < e) {
        size_t i = b;
        if (!is_whitespace(utf8_next(text, i))) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;
        while (s > b && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        size_t i = s;
        if (!is_whitespace(utf8_next(text, i))) break;
        e = s;
      }
    }
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prefix_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(std::unique_ptr<Regex> re, std::string literal, std::string content)
      : re_(std::move(re)), literal_(std::move(literal)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = replace_all(text); }

  std::string replace_all(std::string_view text) const {
    std::string out;
    size_t last = 0;
    if (!re_) {
      if (literal_.empty()) return std::string(text);
      for (size_t p = text.find(literal_); p != std::string_view::npos;
           p = text.find(literal_, last)) {
        out.append(text.substr(last, p - last));
        out += content_;
        last = p + literal_.size();
      }
    } else {
      std::vector<std::pair<size_t, size_t>> m;
      re_->find_all(text, m);
      for (auto [b, e] : m) {
        if (e == b) continue;
        out.append(text.substr(last, b - last));
        out += content_;
        last = e;
      }
    }
    out.append(text.substr(last));
    return out;
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string literal_, content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : items_) n->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, std::string_view where) {
  if (j.is_null()) return nullptr;
  const NestingGuard guard(where, "normalizer");
  const std::string type = json_type(j, where, "normalizer");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::kNFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::kNFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::kNFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::kNFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") {
    return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(j, "prepend", where));
  if (type == "Replace") {
    auto [re, literal] = json_pattern(j, where, "Replace normalizer");
    return std::make_unique<Replace>(std::move(re), std::move(literal),
                                     json_string(j, "content", where));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> items;
    const auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) {
      invalid_input("{}: Sequence normalizer without a 'normalizers' array", where);
    }
    for (const auto& n : *it) {
      if (auto p = make_normalizer(n, where)) items.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(items));
  }
  unsupported("{}: normalizer type '{}' is not supported", where, type);
}

}  // namespace osprey::tok
