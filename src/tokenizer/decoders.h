// Decoders of tokenizer.json ("decoder"): token strings -> text. Each stage maps a list of token
// strings to a new list (Hugging Face's decode_chain); the result is their concatenation.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// null -> nullptr (tokens are then joined with spaces, as HF does). Unknown types:
// Error(kUnsupported).
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, std::string_view where);

}  // namespace osprey::tok
