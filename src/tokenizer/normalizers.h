// Normalizers of tokenizer.json ("normalizer"): text -> text before pre-tokenization.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace osprey::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds from the JSON object (null -> nullptr). `where` names the file for error messages; unknown
// types fail with Error(kUnsupported).
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, std::string_view where);

// Unicode normalization forms through utf8proc.
enum class UnicodeForm { kNFC, kNFD, kNFKC, kNFKD };
std::string unicode_normalize(std::string_view text, UnicodeForm form);

}  // namespace osprey::tok
