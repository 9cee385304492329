// libFuzzer target for tokenizer.json loading: parse the bytes as a tokenizer, then encode and
// decode a fixed text that touches every stage (spaces, digits, punctuation, non-ASCII, an invalid
// byte, special-token-looking text) and stream the ids back. Only osprey::Error is an acceptable
// outcome for bad input; anything else escaping (or an ASan/UBSan report) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr std::string_view kText =
      " Hello  world! It's 12345 cafés, 你好 🤖\n\t<s><|endoftext|>[INST] \xFF end";
  try {
    auto t = osprey::Tokenizer::from_json_string(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    for (bool special : {false, true}) {
      const auto ids = t->encode(kText, special);
      (void)t->decode(ids, special);
      osprey::IncrementalDetokenizer d(t);
      (void)d.push(ids);
      (void)d.finish();
    }
    for (int32_t id = -1; id < 8; ++id) (void)t->id_to_token(id);
  } catch (const osprey::Error&) {
  }
  return 0;
}
