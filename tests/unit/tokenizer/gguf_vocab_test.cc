// Tokenizers built from GGUF metadata reproduce llama.cpp's own test vectors
// (tests/fixtures/gguf-vocab: inputs separated by "__ggml_vocab_test__" lines, expected ids without
// BOS/EOS, special-token text treated as plain text).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "formats/gguf.h"
#include "test_util.h"
#include "tokenizer/incremental_detokenizer.h"

namespace osprey {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t q; (q = s.find(sep, pos)) != std::string::npos; pos = q + sep.size())
    out.push_back(s.substr(pos, q - pos));
  out.push_back(s.substr(pos));
  return out;
}

class GgufVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocab, MatchesLlamaCpp) {
  const std::string base = test::fixture("gguf-vocab/ggml-vocab-" + GetParam() + ".gguf");
  auto file = gguf::File::open(base);
  auto t = Tokenizer::from_gguf(*file);
  auto inputs = split(slurp(base + ".inp"), "\n__ggml_vocab_test__\n");
  auto outputs = split(slurp(base + ".out"), "\n");
  ASSERT_EQ(inputs.back(), "");
  inputs.pop_back();
  ASSERT_GE(outputs.size(), inputs.size());
  size_t passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int32_t> want;
    std::istringstream ss(outputs[i]);
    for (int32_t id; ss >> id;) want.push_back(id);
    const auto got = t->encode(inputs[i], /*add_special_tokens=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, want) << GetParam() << " input " << i << ": '" << inputs[i] << "'";
    passed += got == want;
    // Streaming decode agrees with the full decode.
    IncrementalDetokenizer d(t);
    std::string streamed = d.push(got);
    streamed += d.finish();
    EXPECT_EQ(streamed, t->decode(got));
  }
  std::cout << GetParam() << ": " << passed << "/" << inputs.size() << " inputs exact\n";
}

INSTANTIATE_TEST_SUITE_P(Vocabs, GgufVocab,
                         ::testing::Values("llama-spm", "gpt-2", "phi-3", "deepseek-coder",
                                           "falcon"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(GgufVocabSpecial, SpecialTokensAndDecode) {
  auto file = gguf::File::open(test::fixture("gguf-vocab/ggml-vocab-llama-spm.gguf"));
  auto t = Tokenizer::from_gguf(*file);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->special_tokens().bos.text, "<s>");
  EXPECT_TRUE(t->special_tokens().add_bos);
  EXPECT_TRUE(t->special_tokens().is_stop(2));
  const auto ids = t->encode("Hello world", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(t->decode(ids, true), "Hello world");
  // With parse_special, "<s>" in the text is the control token.
  EXPECT_EQ(t->encode("<s>", false, true), std::vector<int32_t>{1});

  auto phi =
      Tokenizer::from_gguf(*gguf::File::open(test::fixture("gguf-vocab/ggml-vocab-phi-3.gguf")));
  EXPECT_EQ(phi->eos_id(), 32000);
  ASSERT_NE(phi->config().chat_template(), nullptr);
  EXPECT_NE(phi->config().chat_template()->find("<|user|>"), std::string::npos);
  EXPECT_TRUE(phi->special_tokens().is_stop(*phi->token_to_id("<|end|>")));
}

}  // namespace
}  // namespace osprey
