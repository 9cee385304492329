// Hugging Face tokenizers written as GGUF metadata (gguf_tokenizer_metadata) and read back by the
// GGUF tokenizer must still give Hugging Face's ids (tests/fixtures/tokenizers/reference.json), and
// the Llama 2 vocabulary must come out as llama.cpp's converter wrote it
// (tests/fixtures/gguf-vocab/ggml-vocab-llama-spm.gguf).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"
#include "tokenizer/gguf_vocab_writer.h"

namespace osprey {
namespace {

// The metadata as a GGUF file in memory (no tensors), kept alive with its bytes.
struct GgufVocab {
  std::vector<uint8_t> bytes;
  std::shared_ptr<gguf::File> file;
};

GgufVocab write_gguf(const gguf::Metadata& meta, const std::string& name) {
  gguf::Writer w;
  for (const auto& [k, v] : meta) w.set(k, v);
  GgufVocab g;
  g.bytes = w.serialize();
  g.file = gguf::File::from_memory(g.bytes.data(), g.bytes.size(), name);
  return g;
}

class GgufVocabWriter : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocabWriter, ReadBackEncodesAsHuggingFace) {
  const std::string name = GetParam();
  const auto hf = test::real_tokenizer(name);
  ASSERT_TRUE(hf);
  const auto g = write_gguf(
      gguf_tokenizer_metadata(test::tokenizer_cache() + "/" + name, hf->vocab_size()), name);
  const auto t = Tokenizer::from_gguf(*g.file);
  ASSERT_EQ(t->vocab_size(), hf->vocab_size());
  int passed = 0, cases = 0;
  for (const auto& c : test::tokenizer_reference().at(name).at("encode")) {
    const std::string text = c.at("text");
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    const auto ids_sp = c.at("ids_with_special").get<std::vector<int32_t>>();
    EXPECT_EQ(t->encode(text, false), ids) << name << " text: " << text;
    EXPECT_EQ(t->encode(text, true), ids_sp) << name << " text: " << text;
    EXPECT_EQ(t->decode(ids, false), c.at("decode").get<std::string>()) << name << " " << text;
    passed += t->encode(text, false) == ids && t->encode(text, true) == ids_sp;
    ++cases;
  }
  std::cout << name << ": " << passed << "/" << cases << " exact\n";
  EXPECT_EQ(t->bos_id(), hf->bos_id());
  EXPECT_EQ(t->eos_id(), hf->eos_id());
  const std::string* want = hf->config().chat_template();
  const std::string* got = t->config().chat_template();
  ASSERT_EQ(want == nullptr, got == nullptr);
  if (want) {
    EXPECT_EQ(*got, *want);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GgufVocabWriter,
                         ::testing::Values("llama2", "llama3", "llama3_1", "qwen3", "gemma3",
                                           "deepseek_v3", "gpt4o", "gptoss"),
                         [](const auto& info) { return info.param; });

TEST(GgufVocabWriter, PadsToTheEmbeddingRowsAndRefusesTooFew) {
  const std::string dir = test::tokenizer_cache() + "/llama2";
  const auto g = write_gguf(gguf_tokenizer_metadata(dir, 32003), "llama2");
  const auto tokens = g.file->get_string_array("tokenizer.ggml.tokens");
  const auto types = g.file->get_i32_array("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.size(), 32003u);
  EXPECT_EQ(tokens[32002], "[PAD32002]");
  EXPECT_EQ(types[32002], 5);  // unused
  EXPECT_EQ(types[31999], 1);
  EXPECT_EQ(types[0], 2);  // <unk>
  EXPECT_EQ(types[1], 3);  // <s>
  EXPECT_EQ(types[3], 6);  // <0x00>
  EXPECT_EQ(Tokenizer::from_gguf(*g.file)->encode("Hello world", true),
            test::real_tokenizer("llama2")->encode("Hello world", true));
  try {
    gguf_tokenizer_metadata(dir, 31999);
    FAIL() << "31999 rows for 32000 tokens";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("32000 tokens"), std::string::npos) << e.what();
  }
}

TEST(GgufVocabWriter, RefusesWhatGgufCannotSay) {
  // Claude's tokenizer normalizes with NFKC (full-width letters, ligatures), which GGUF readers
  // would skip: refused rather than written wrong.
  try {
    gguf_tokenizer_metadata(test::tokenizer_cache() + "/claude", 65000);
    FAIL() << "NFKC accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("NFKC"), std::string::npos) << e.what();
  }
  // A byte-level BPE whose pre-tokenizer llama.cpp has no name for.
  const std::string dir = ::testing::TempDir() + "/gguf-vocab-writer-odd-pre";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << R"({
    "added_tokens": [],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
  try {
    gguf_tokenizer_metadata(dir, 3);
    FAIL() << "unknown pre-tokenizer accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("no pre-tokenizer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace osprey
