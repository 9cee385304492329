#include "core/error.h"
#include "tokenizer/tokenizer_builder.h"

namespace osprey {

std::shared_ptr<const Tokenizer> Tokenizer::from_gguf(const gguf::File&) {
  unsupported("GGUF vocabularies are not implemented yet");
}

std::shared_ptr<const Tokenizer> Tokenizer::from_path(const std::string& path) {
  return from_dir(path);
}

}  // namespace osprey
