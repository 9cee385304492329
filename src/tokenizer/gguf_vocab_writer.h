// A Hugging Face tokenizer written as GGUF tokenizer.* metadata, the way llama.cpp's converter
// writes it, so that a GGUF file made by `osprey quantize` from a model folder carries its
// vocabulary (and chat template) into llama.cpp and back into Osprey.
#pragma once

#include <cstdint>
#include <string>

#include "formats/gguf.h"

namespace osprey {

// The folder's tokenizer.json (with tokenizer_config.json / generation_config.json for special
// tokens and chat templates) as tokenizer.ggml.* keys and tokenizer.chat_template:
//  - byte-fallback BPE over '▁' (Llama 2, Mistral, Gemma) as model "llama", each merged token
//    scored by its merge's rank, since llama.cpp merges the best-scored pair first;
//  - byte-level BPE as model "gpt2" with its merges and the tokenizer.ggml.pre name whose regexes
//    are the tokenizer's.
// The token list is padded to `embedding_rows` with unused "[PAD<id>]" tokens (llama.cpp wants a
// token per row). Error(kUnsupported) for what GGUF cannot say (WordPiece/Unigram models,
// pre-tokenizers llama.cpp has no name for), Error(kInvalidInput) for more tokens than rows.
gguf::Metadata gguf_tokenizer_metadata(const std::string& folder, int64_t embedding_rows);

}  // namespace osprey
