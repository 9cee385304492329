// Streaming detokenization: push generated ids one at a time and get the text that is final, so a
// server can send it at once. The concatenation of all deltas (and finish()) equals
// Tokenizer::decode(all ids), and no delta ever ends inside a UTF-8 sequence.
//
// How: decode a window of a few previous tokens plus the new ones, and emit what the window adds to
// the decode of the previous tokens alone, but only once it is settled:
//  - not ending in U+FFFD (an incomplete UTF-8 sequence, whose next byte may complete it);
//  - not ending in a byte-fallback token (<0xXX>): Hugging Face's ByteFallback decodes a whole run
//  of
//    byte tokens at once, as text when valid and as one U+FFFD per byte when not, so a later byte
//    can still turn the run's characters into U+FFFDs;
//  - the window's text starts with the previous tokens' text.
// Decoding the window, not only the new token, keeps context-dependent decoders right:
// SentencePiece's leading space is dropped only for the very first token of the sequence (the
// Strip/Metaspace decoder sees the previous token first in the window, which absorbs the strip).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace osprey {

class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer,
                                  bool skip_special_tokens = false);

  // Appends ids and returns the newly final text (often empty while a character is incomplete).
  std::string push(int32_t id);
  std::string push(std::span<const int32_t> ids);
  // End of the sequence: whatever is still held back, as decode renders it (U+FFFD for an
  // incomplete trailing sequence).
  std::string finish();

  const std::vector<int32_t>& ids() const { return ids_; }
  const std::string& text() const { return emitted_; }  // everything returned so far

 private:
  std::string decode(size_t begin, size_t end) const;
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // start of the decode window
  size_t read_offset_ = 0;    // ids before this are already emitted
  std::string emitted_;
};

}  // namespace osprey
