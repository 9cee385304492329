#include "tokenizer/pre_tokenizers.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace osprey::tok {

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const nlohmann::json& j, std::string_view where, Behavior dflt) {
  const auto it = j.find("behavior");
  if (it == j.end() || it->is_null()) return dflt;
  const std::string b = it->is_string() ? it->get<std::string>() : std::string();
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  unsupported("{}: split behavior '{}' is not supported", where, b);
}

struct Segment {
  size_t b, e;
  bool match;
};

// Applies a delimiter behavior to segments covering a piece, as Hugging Face's
// NormalizedString::split does, and appends the resulting non-empty pieces to `out`.
void apply_behavior(const Piece& piece, std::vector<Segment>& segs, Behavior behavior,
                    std::vector<Piece>& out) {
  std::vector<std::pair<size_t, size_t>> spans;
  switch (behavior) {
    case Behavior::kRemoved:
      for (const auto& s : segs)
        if (!s.match) spans.emplace_back(s.b, s.e);
      break;
    case Behavior::kIsolated:
      for (const auto& s : segs) spans.emplace_back(s.b, s.e);
      break;
    case Behavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (const auto& s : segs) {
        if (s.match && !prev_match && !spans.empty()) {
          spans.back().second = s.e;
        } else {
          spans.emplace_back(s.b, s.e);
        }
        prev_match = s.match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool next_match = false;
      for (size_t k = segs.size(); k-- > 0;) {
        const auto& s = segs[k];
        if (s.match && !next_match && !spans.empty()) {
          spans.back().first = s.b;
        } else {
          spans.emplace_back(s.b, s.e);
        }
        next_match = s.match;
      }
      std::reverse(spans.begin(), spans.end());
      break;
    }
    case Behavior::kContiguous: {
      bool prev_match = false;
      for (size_t k = 0; k < segs.size(); ++k) {
        const auto& s = segs[k];
        if (k > 0 && s.match == prev_match) {
          spans.back().second = s.e;
        } else {
          spans.emplace_back(s.b, s.e);
        }
        prev_match = s.match;
      }
      break;
    }
  }
  for (auto [b, e] : spans) {
    if (e > b) out.push_back({piece.text.substr(b, e - b), piece.at_start && b == 0});
  }
}

// Segments from (begin, end) matches: the gaps are non-matches. Empty matches are dropped.
void segments_from_matches(size_t len, const std::vector<std::pair<size_t, size_t>>& m, bool invert,
                           std::vector<Segment>& segs) {
  segs.clear();
  size_t prev = 0;
  for (auto [b, e] : m) {
    if (e == b) continue;
    if (b > prev) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < len) segs.push_back({prev, len, invert});
}

// Each char for which `pred` holds is its own match, as HF's char-predicate patterns do.
void segments_from_chars(const std::string& text, const std::function<bool(char32_t)>& pred,
                         std::vector<Segment>& segs) {
  segs.clear();
  size_t run = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    if (pred(utf8_next(text, i))) {
      if (start > run) segs.push_back({run, start, false});
      segs.push_back({start, i, true});
      run = i;
    }
  }
  if (run < text.size()) segs.push_back({run, text.size(), false});
}

void split_with_regex(const Regex& re, Behavior behavior, bool invert, std::vector<Piece>& pieces) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  std::vector<std::pair<size_t, size_t>> m;
  std::vector<Segment> segs;
  for (const auto& p : pieces) {
    m.clear();
    re.find_all(p.text, m);
    segments_from_matches(p.text.size(), m, invert, segs);
    apply_behavior(p, segs, behavior, out);
  }
  pieces = std::move(out);
}

class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(std::unique_ptr<Regex> re, Behavior b, bool invert)
      : re_(std::move(re)), behavior_(b), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_with_regex(*re_, behavior_, invert_, pieces);
  }

 private:
  std::unique_ptr<Regex> re_;
  Behavior behavior_;
  bool invert_;
};

class LiteralSplit : public PreTokenizer {
 public:
  LiteralSplit(std::string lit, Behavior b, bool invert)
      : lit_(std::move(lit)), behavior_(b), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> m;
    std::vector<Segment> segs;
    for (const auto& p : pieces) {
      m.clear();
      if (!lit_.empty()) {
        for (size_t q = p.text.find(lit_); q != std::string::npos;
             q = p.text.find(lit_, q + lit_.size())) {
          m.emplace_back(q, q + lit_.size());
        }
      }
      segments_from_matches(p.text.size(), m, invert_, segs);
      apply_behavior(p, segs, behavior_, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string lit_;
  Behavior behavior_;
  bool invert_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> pred, Behavior b)
      : pred_(std::move(pred)), behavior_(b) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<Segment> segs;
    for (const auto& p : pieces) {
      segments_from_chars(p.text, pred_, segs);
      apply_behavior(p, segs, behavior_, out);
    }
    pieces = std::move(out);
  }

 private:
  std::function<bool(char32_t)> pred_;
  Behavior behavior_;
};

// GPT-2's own split, used by ByteLevel when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The byte-to-char mapping itself is not done here: byte-level vocabularies are stored as raw bytes
// (see BpeModel), which is equivalent and avoids re-encoding every word.
class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, std::string_view where)
      : add_prefix_space_(add_prefix_space),
        re_(use_regex ? std::make_unique<Regex>(kGpt2Pattern, where) : nullptr) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces)
        if (!p.text.empty() && p.text[0] != ' ') p.text.insert(p.text.begin(), ' ');
    }
    if (re_) split_with_regex(*re_, Behavior::kIsolated, false, pieces);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  Metaspace(std::string replacement, Prepend scheme, bool split)
      : rep_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<Segment> segs;
    for (auto& p : pieces) {
      std::string t;
      for (char c : p.text) {
        if (c == ' ') {
          t += rep_;
        } else {
          t += c;
        }
      }
      const bool starts = t.compare(0, rep_.size(), rep_) == 0;
      if (!starts && (scheme_ == Prepend::kAlways || (scheme_ == Prepend::kFirst && p.at_start))) {
        t.insert(0, rep_);
      }
      Piece np{std::move(t), p.at_start};
      if (!split_) {
        if (!np.text.empty()) out.push_back(std::move(np));
        continue;
      }
      std::vector<std::pair<size_t, size_t>> m;
      for (size_t q = np.text.find(rep_); q != std::string::npos;
           q = np.text.find(rep_, q + rep_.size())) {
        m.emplace_back(q, q + rep_.size());
      }
      segments_from_matches(np.text.size(), m, false, segs);
      apply_behavior(np, segs, Behavior::kMergedWithNext, out);
    }
    pieces = std::move(out);
  }

 private:
  std::string rep_;
  Prepend scheme_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : items_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_regex_split(std::string_view pattern, std::string_view where) {
  return std::make_unique<RegexSplit>(std::make_unique<Regex>(pattern, where), Behavior::kIsolated,
                                      false);
}

std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> items) {
  return std::make_unique<Sequence>(std::move(items));
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, std::string_view where,
                                                 PreTokenizerInfo& info) {
  if (j.is_null()) return nullptr;
  const NestingGuard guard(where, "pre_tokenizer");
  const std::string type = json_type(j, where, "pre_tokenizer");
  if (info.byte_level) {
    // Byte-level vocabularies are kept as raw bytes, so a stage after ByteLevel would see bytes
    // instead of the GPT-2 alphabet; no known tokenizer does this.
    unsupported("{}: pre_tokenizer '{}' after ByteLevel is not supported", where, type);
  }
  if (type == "Split") {
    const Behavior b = parse_behavior(j, where, Behavior::kIsolated);
    const bool invert = j.value("invert", false);
    auto [re, literal] = json_pattern(j, where, "Split pre_tokenizer");
    if (re) return std::make_unique<RegexSplit>(std::move(re), b, invert);
    return std::make_unique<LiteralSplit>(std::move(literal), b, invert);
  }
  if (type == "ByteLevel") {
    info.byte_level = true;
    return std::make_unique<ByteLevel>(j.value("add_prefix_space", true),
                                       j.value("use_regex", true), where);
  }
  if (type == "Digits") {
    if (j.value("individual_digits", false)) {
      return std::make_unique<CharSplit>([](char32_t c) { return c >= '0' && c <= '9'; },
                                         Behavior::kIsolated);
    }
    return std::make_unique<CharSplit>([](char32_t c) { return c >= '0' && c <= '9'; },
                                       Behavior::kContiguous);
  }
  if (type == "Punctuation") {
    return std::make_unique<CharSplit>(is_punctuation,
                                       parse_behavior(j, where, Behavior::kIsolated));
  }
  if (type == "Whitespace") {
    return std::make_unique<RegexSplit>(std::make_unique<Regex>(R"(\w+|[^\w\s]+)", where),
                                        Behavior::kRemoved, true);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharSplit>(is_whitespace, Behavior::kRemoved);
  }
  if (type == "Metaspace") {
    std::string rep = j.value("replacement", std::string("\xE2\x96\x81"));
    Metaspace::Prepend scheme = Metaspace::Prepend::kAlways;
    if (const auto it = j.find("prepend_scheme"); it != j.end() && it->is_string()) {
      const std::string s = it->get<std::string>();
      if (s == "first") {
        scheme = Metaspace::Prepend::kFirst;
      } else if (s == "never") {
        scheme = Metaspace::Prepend::kNever;
      } else if (s != "always") {
        unsupported("{}: Metaspace prepend_scheme '{}' is not supported", where, s);
      }
    } else if (j.contains("add_prefix_space") && !j.value("add_prefix_space", true)) {
      scheme = Metaspace::Prepend::kNever;  // the older spelling
    }
    return std::make_unique<Metaspace>(std::move(rep), scheme, j.value("split", true));
  }
  if (type == "Sequence") {
    const auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      invalid_input("{}: Sequence pre_tokenizer without a 'pretokenizers' array", where);
    }
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (const auto& p : *it) {
      if (auto q = make_pre_tokenizer(p, where, info)) items.push_back(std::move(q));
    }
    return std::make_unique<Sequence>(std::move(items));
  }
  unsupported("{}: pre_tokenizer type '{}' is not supported", where, type);
}

}  // namespace osprey::tok
