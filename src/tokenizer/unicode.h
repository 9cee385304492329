// UTF-8 helpers shared by the tokenizer stages. Classification and normalization come from utf8proc
// (no hand-written Unicode tables); this file only walks and repairs byte sequences.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace osprey::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_valid_len(std::string_view s, size_t i);
// Length implied by a lead byte (1 for continuation/invalid bytes), for walking text known valid.
inline size_t utf8_len(unsigned char c) {
  return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
}
// Decodes the code point at s[i] of valid UTF-8 and advances i.
char32_t utf8_next(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);
// Replaces every maximal invalid subsequence with U+FFFD, the way Rust's String::from_utf8_lossy
// and Python's bytes.decode(errors="replace") do, so results match Hugging Face.
std::string utf8_lossy(std::string_view s);
// Number of bytes at the end of `s` that form an incomplete (but so far valid) UTF-8 sequence; a
// streaming decoder holds them back until the rest arrives.
size_t utf8_incomplete_tail(std::string_view s);

// Unicode predicates through utf8proc.
bool is_whitespace(char32_t cp);    // White_Space, as Rust's char::is_whitespace
bool is_punctuation(char32_t cp);   // ASCII punctuation or general category P*
bool is_alphanumeric(char32_t cp);  // categories L*, N* (Rust's char::is_alphanumeric)

// GPT-2's byte-level alphabet: every byte maps to one printable code point.
char32_t byte_to_unicode(uint8_t b);
// -1 when `cp` is not in the alphabet.
int unicode_to_byte(char32_t cp);
// Raw bytes of a byte-level token string; false when a char is outside the alphabet.
bool byte_level_decode(std::string_view token, std::string& out);
std::string byte_level_encode(std::string_view bytes);

}  // namespace osprey::tok
