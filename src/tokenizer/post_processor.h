// Post-processors of tokenizer.json ("post_processor"): add the special tokens of a single sequence
// (BOS/EOS/CLS/SEP) when encode is asked to.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace osprey::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

// null -> nullptr. Unknown types: Error(kUnsupported) naming `where`.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, std::string_view where);

// Wraps ids in fixed prefix/suffix ids (GGUF add_bos_token/add_eos_token).
std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix,
                                                    std::vector<int32_t> suffix);

}  // namespace osprey::tok
