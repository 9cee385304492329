// Property tests on the real tokenizers: random Unicode round-trips, invalid UTF-8 handling and the
// incremental detokenizer's deltas against the full decode.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "test_util.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/unicode.h"

namespace osprey {
namespace {

// Random text from every plane: ASCII and whitespace often (so words form), Latin with combining
// marks, CJK, emoji with ZWJ and skin tones, and any scalar value up to U+10FFFF (unassigned and
// private-use included); never surrogates.
std::string random_unicode(std::mt19937& rng, size_t n_chars) {
  std::string s;
  std::uniform_int_distribution<int> kind(0, 11);
  for (size_t i = 0; i < n_chars; ++i) {
    char32_t cp;
    switch (kind(rng)) {
      case 0:
      case 1:
      case 2:
        cp = std::uniform_int_distribution<char32_t>(0x20, 0x7E)(rng);
        break;
      case 3:
        cp = U" \n\t\r  \u00A0\u3000"[std::uniform_int_distribution<int>(0, 8)(rng)];
        break;
      case 4:
        cp = std::uniform_int_distribution<char32_t>(0xC0, 0x24F)(rng);
        break;
      case 5:
        cp = std::uniform_int_distribution<char32_t>(0x300, 0x36F)(rng);
        break;  // combining
      case 6:
        cp = std::uniform_int_distribution<char32_t>(0x4E00, 0x9FFF)(rng);
        break;
      case 7:
        cp = std::uniform_int_distribution<char32_t>(0x1F300, 0x1FAFF)(rng);
        break;
      case 8:
        cp = U"\u200D\U0001F3FD\uFE0F\u0301"[std::uniform_int_distribution<int>(0, 3)(rng)];
        break;
      case 9:
        cp = std::uniform_int_distribution<char32_t>(0x80, 0xFFFF)(rng);
        break;
      default:
        cp = std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
        break;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    tok::append_utf8(s, cp);
  }
  return s;
}

struct RoundTrip {
  const char* name;
  int form;  // -1: exact; else the Unicode form the tokenizer's normalizer applies
};

class ByteLevelRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(ByteLevelRoundTrip, RandomUnicodeDecodesBackToItself) {
  const RoundTrip p = GetParam();
  auto t = test::real_tokenizer(p.name);
  ASSERT_TRUE(t);
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 300; ++iter) {
    const std::string s = random_unicode(rng, 1 + iter % 60);
    const std::string want =
        p.form < 0 ? s : tok::unicode_normalize(s, static_cast<tok::UnicodeForm>(p.form));
    const auto ids = t->encode(s, false);
    ASSERT_EQ(t->decode(ids, false), want) << p.name << " iteration " << iter;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, ByteLevelRoundTrip,
    ::testing::Values(RoundTrip{"llama3", -1}, RoundTrip{"llama3_1", -1}, RoundTrip{"gpt4o", -1},
                      RoundTrip{"gptoss", -1}, RoundTrip{"deepseek_v3", -1},
                      RoundTrip{"qwen3", static_cast<int>(tok::UnicodeForm::kNFC)},
                      RoundTrip{"claude", static_cast<int>(tok::UnicodeForm::kNFKC)}),
    [](const auto& info) { return std::string(info.param.name); });

class AllTokenizers : public ::testing::TestWithParam<std::string> {};

TEST_P(AllTokenizers, InvalidUtf8IsEncodedAsReplacementChars) {
  auto t = test::real_tokenizer(GetParam());
  ASSERT_TRUE(t);
  // Documented behaviour: each maximal invalid subsequence becomes U+FFFD before encoding.
  const std::string bad =
      "ab\xFF"
      "cd \xE4\xBD"
      " x\xC0\xAF"
      "y\xF0\x9F\x98";
  const std::string repaired =
      "ab\uFFFD"
      "cd \uFFFD x\uFFFD\uFFFDy\uFFFD";
  EXPECT_EQ(tok::utf8_lossy(bad), repaired);
  EXPECT_EQ(t->encode(bad, false), t->encode(repaired, false));
  EXPECT_EQ(t->encode(bad, true), t->encode(repaired, true));
  // Random bytes never crash and always decode to valid UTF-8.
  std::mt19937 rng(99);
  for (int iter = 0; iter < 200; ++iter) {
    std::string s(1 + iter % 40, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    const auto ids = t->encode(s, iter % 2 == 0);
    EXPECT_TRUE(tok::is_valid_utf8(t->decode(ids, false)));
  }
}

// Pushes `ids` one by one; checks every delta and the total against decode().
void check_incremental(const std::shared_ptr<const Tokenizer>& t, const std::vector<int32_t>& ids,
                       bool skip_special) {
  IncrementalDetokenizer d(t, skip_special);
  std::string all;
  for (int32_t id : ids) {
    const std::string delta = d.push(id);
    ASSERT_TRUE(tok::is_valid_utf8(delta)) << "delta with a partial UTF-8 sequence";
    all += delta;
  }
  const std::string rest = d.finish();
  ASSERT_TRUE(tok::is_valid_utf8(rest));
  all += rest;
  ASSERT_EQ(all, t->decode(ids, skip_special));
}

TEST_P(AllTokenizers, IncrementalDetokenizerMatchesFullDecode) {
  auto t = test::real_tokenizer(GetParam());
  ASSERT_TRUE(t);
  std::mt19937 rng(7);
  // Byte-fallback ids (<0xXX>) where the vocabulary has them, so that runs of bytes (valid and not)
  // get exercised.
  std::vector<int32_t> byte_ids;
  for (int32_t id = 0; id < t->vocab_size() && byte_ids.size() < 256; ++id)
    if (t->is_byte_token(id)) byte_ids.push_back(id);
  std::uniform_int_distribution<int32_t> any(0, t->vocab_size() - 1);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<int32_t> ids;
    const int n = 1 + iter % 30;
    for (int k = 0; k < n; ++k) {
      if (!byte_ids.empty() && rng() % 3 == 0) {
        ids.push_back(byte_ids[rng() % byte_ids.size()]);
      } else {
        ids.push_back(any(rng));
      }
    }
    check_incremental(t, ids, iter % 4 == 3);
  }
  // Real text, including characters that only byte fallback can spell.
  for (int iter = 0; iter < 100; ++iter) {
    check_incremental(t, t->encode(random_unicode(rng, 1 + iter % 40), iter % 2 == 0), false);
  }
  check_incremental(t, t->encode(" Hello  world, 你好 🤖", false), false);
}

TEST_P(AllTokenizers, ConcurrentEncodeIsConsistent) {
  auto t = test::real_tokenizer(GetParam());
  ASSERT_TRUE(t);
  std::mt19937 rng(5);
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) texts.push_back(random_unicode(rng, 50));
  std::vector<std::vector<int32_t>> want;
  for (const auto& s : texts) want.push_back(t->encode(s, true));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (t->encode(texts[i], true) != want[i]) ++mismatches;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, AllTokenizers,
                         ::testing::Values("llama2", "llama3", "llama3_1", "qwen3", "gemma3",
                                           "deepseek_v3", "gpt4o", "gptoss", "claude"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace osprey
