// Component-level behaviour (pre-tokenizers, normalizers, decoders, BPE options, added-token flags)
// on small hand-made inputs whose expected output Hugging Face's documentation spells out, plus the
// tokenizer_config.json / generation_config.json handling.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/regex.h"

namespace osprey {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

Strings pre_tokenize(const json& spec, const std::string& text) {
  tok::PreTokenizerInfo info;
  auto p = tok::make_pre_tokenizer(spec, "test", info);
  std::vector<tok::Piece> pieces{{text, true}};
  p->pre_tokenize(pieces);
  Strings out;
  for (auto& x : pieces) out.push_back(x.text);
  return out;
}

json split(const char* behavior, bool invert = false) {
  return {{"type", "Split"},
          {"pattern", {{"String", "-"}}},
          {"behavior", behavior},
          {"invert", invert}};
}

TEST(PreTokenizers, SplitBehaviors) {
  const std::string s = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("Removed"), s), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Isolated"), s),
            (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), s),
            (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), s),
            (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), s),
            (Strings{"the", "-", "final", "--", "countdown"}));
  // Inverted: the pattern says what to keep.
  EXPECT_EQ(pre_tokenize(split("Removed", true), s), (Strings{"-", "-", "-"}));
  const json re = {{"type", "Split"},
                   {"pattern", {{"Regex", "\\p{L}+|\\p{N}{1,3}"}}},
                   {"behavior", "Removed"},
                   {"invert", true}};
  EXPECT_EQ(pre_tokenize(re, "héllo 12345!"), (Strings{"héllo", "123", "45"}));
  // Lookahead, as the GPT-2 family's "\s+(?!\S)" needs.
  const json la = {{"type", "Split"},
                   {"pattern", {{"Regex", "\\s+(?!\\S)|\\s+|\\S+"}}},
                   {"behavior", "Isolated"},
                   {"invert", false}};
  EXPECT_EQ(pre_tokenize(la, "a   b"), (Strings{"a", "  ", " ", "b"}));
}

TEST(PreTokenizers, DigitsPunctuationWhitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Call 123 please"),
            (Strings{"Call ", "1", "2", "3", " please"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Call 123 please"),
            (Strings{"Call ", "123", " please"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "Hey friend!     How are you?!?"),
            (Strings{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!"), (Strings{"Hey", "man", "!"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey  man!\t"), (Strings{"Hey", "man!"}));
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}},
                         "Hello  world's"),
            (Strings{" Hello", " ", " world", "'s"}));
}

TEST(PreTokenizers, Metaspace) {
  const json always = {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}};
  EXPECT_EQ(pre_tokenize(always, "Hey friend!"), (Strings{"▁Hey", "▁friend!"}));
  json nosplit = always;
  nosplit["split"] = false;
  EXPECT_EQ(pre_tokenize(nosplit, "Hey friend!"), (Strings{"▁Hey▁friend!"}));
  // "first": only a piece at the start of the input gets the prefix.
  tok::PreTokenizerInfo info;
  auto first = tok::make_pre_tokenizer(
      {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}}, "t", info);
  std::vector<tok::Piece> pieces{{"a b", true}, {"c", false}};
  first->pre_tokenize(pieces);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].text, "▁a");
  EXPECT_EQ(pieces[1].text, "▁b");
  EXPECT_EQ(pieces[2].text, "c");
}

std::string normalize(const json& spec, std::string s) {
  tok::make_normalizer(spec, "test")->normalize(s);
  return s;
}

TEST(Normalizers, All) {
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "ｆｕｌｌ ﬁ ①"), "full fi 1");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "é"), "e\u0301");
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\u0301"), "é");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "ﬁ"), "fi");
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "ÀBÇ"), "àbç");
  EXPECT_EQ(
      normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \u3000a "),
      "a ");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "▁"}}, "a"), "▁a");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "▁"}}, ""), "");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}},
                      "a \t\n b"),
            "a b");
  EXPECT_EQ(normalize({{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "Lowercase"}},
                         {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}},
                      "A B"),
            "a▁b");
}

std::string decode(const json& spec, Strings tokens) {
  tok::make_decoder(spec, "test")->decode_chain(tokens);
  std::string s;
  for (auto& t : tokens) s += t;
  return s;
}

TEST(Decoders, All) {
  EXPECT_EQ(decode({{"type", "ByteFallback"}}, {"<0xE4>", "<0xBD>", "<0xA0>", "a"}), "你a");
  EXPECT_EQ(decode({{"type", "ByteFallback"}}, {"<0xE4>", "<0xBD>", "a", "<0xFF>"}),
            "\uFFFD\uFFFDa\uFFFD");
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"Hello", "Ġworld", "Ċ", "<｜x｜>"}),
            "Hello world\n<｜x｜>");
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"ä"}), "\uFFFD");  // a lone 0xE4 byte
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}}, {"  a  "}),
            " a ");
  EXPECT_EQ(decode({{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "always"}},
                   {"▁Hey", "▁friend"}),
            "Hey friend");
  EXPECT_EQ(decode({{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "never"}},
                   {"▁Hey", "▁friend"}),
            " Hey friend");
  EXPECT_EQ(
      decode({{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}}, {"▁a▁", "b"}),
      " a b");
}

std::shared_ptr<const Tokenizer> from(const json& j) {
  return Tokenizer::from_json_string(j.dump());
}

json tiny_bpe(json vocab, json merges) {
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

TEST(Bpe, MergeFormsAndOptions) {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}, {"bc", 5}};
  // Both merge spellings; rank order decides: "b c" (rank 0) before "a b".
  EXPECT_EQ(from(tiny_bpe(vocab, {"b c", "a b"}))->encode("abc", false),
            (std::vector<int32_t>{0, 5}));
  EXPECT_EQ(from(tiny_bpe(vocab, json::array({json::array({"a", "b"}), json::array({"ab", "c"})})))
                ->encode("abc", false),
            (std::vector<int32_t>{4}));
  // ignore_merges: a word that is a token is taken whole even without a merge path.
  json j = tiny_bpe(vocab, json::array());
  EXPECT_EQ(from(j)->encode("abc", false), (std::vector<int32_t>{0, 1, 2}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(from(j)->encode("abc", false), (std::vector<int32_t>{4}));
  // Leftmost first among equal ranks.
  EXPECT_EQ(from(tiny_bpe({{"a", 0}, {"aa", 1}}, {"a a"}))->encode("aaa", false),
            (std::vector<int32_t>{1, 0}));
  // continuing_subword_prefix: "a" + "##b" makes "ab".
  json p = tiny_bpe({{"a", 0}, {"##b", 1}, {"ab", 2}}, {"a ##b"});
  p["model"]["continuing_subword_prefix"] = "##";
  EXPECT_EQ(from(p)->encode("ab", false), (std::vector<int32_t>{2}));
  // end_of_word_suffix on the last symbol.
  json s = tiny_bpe({{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}}, {"a b</w>"});
  s["model"]["end_of_word_suffix"] = "</w>";
  EXPECT_EQ(from(s)->encode("ab", false), (std::vector<int32_t>{2}));
}

TEST(Bpe, UnknownAndByteFallback) {
  json j = tiny_bpe({{"<unk>", 0}, {"a", 1}}, json::array());
  j["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(from(j)->encode("axxa", false), (std::vector<int32_t>{1, 0, 0, 1}));
  j["model"]["fuse_unk"] = true;
  EXPECT_EQ(from(j)->encode("axxa", false), (std::vector<int32_t>{1, 0, 1}));
  json bf = tiny_bpe({{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}, json::array());
  bf["model"]["unk_token"] = "<unk>";
  bf["model"]["byte_fallback"] = true;
  bf["decoder"] = {{"type", "ByteFallback"}};
  auto t = from(bf);
  EXPECT_EQ(t->encode("aéx", false), (std::vector<int32_t>{1, 2, 3, 0}));
  EXPECT_EQ(t->decode(std::vector<int32_t>{1, 2, 3}), "aé");
}

TEST(AddedTokens, FlagsAndPriority) {
  json j = tiny_bpe({{"a", 0}, {"b", 1}, {" ", 2}}, json::array());
  j["added_tokens"] = {
      {{"id", 10}, {"content", "<x>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
      {{"id", 11}, {"content", "<x>y"}, {"special", true}},
      {{"id", 12}, {"content", "ab"}, {"special", false}, {"single_word", true}},
  };
  auto t = from(j);
  EXPECT_EQ(t->encode("a <x> b", false), (std::vector<int32_t>{0, 10, 1}));       // spaces stripped
  EXPECT_EQ(t->encode("a<x>y", false), (std::vector<int32_t>{0, 11}));            // longest wins
  EXPECT_EQ(t->encode("ab aab", false), (std::vector<int32_t>{12, 2, 0, 0, 1}));  // single_word
  // parse_special=false: special tokens are plain text, added non-special ones still match.
  EXPECT_EQ(t->encode("<x>", false, false),
            (std::vector<int32_t>{}));  // no vocab for '<', 'x', '>'
  EXPECT_EQ(t->encode("ab", false, false), (std::vector<int32_t>{12}));
  EXPECT_TRUE(t->is_special(10));
  EXPECT_FALSE(t->is_special(12));
  EXPECT_EQ(t->decode(std::vector<int32_t>{0, 10, 1}, true), "a b");
  EXPECT_EQ(t->token_to_id("<x>y"), 11);
  EXPECT_EQ(t->id_to_token(12), "ab");
}

TEST(Config, TokenizerAndGenerationConfig) {
  const auto dir = std::filesystem::temp_directory_path() / "osprey_tok_config_test";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(
      test::fixture("fuzz-corpus/tokenizer_json/sentencepiece_byte_fallback.json"),
      dir / "tokenizer.json", std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir / "tokenizer_config.json") << json{
      {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
      {"eos_token", "</s>"},
      {"pad_token", nullptr},
      {"add_bos_token", true},
      {"chat_template",
       {{{"name", "default"}, {"template", "A"}},
        {{"name", "tool_use"}, {"template", "B"}}}}}.dump();
  std::ofstream(dir / "generation_config.json") << json{{"eos_token_id", {2, 0}}}.dump();
  auto t = Tokenizer::from_dir(dir.string());
  const SpecialTokens& s = t->special_tokens();
  EXPECT_EQ(s.bos.text, "<s>");
  EXPECT_EQ(s.bos.id, 1);
  EXPECT_EQ(s.eos.id, 2);
  EXPECT_FALSE(s.pad.present());
  EXPECT_TRUE(s.add_bos);
  EXPECT_FALSE(s.add_eos);
  EXPECT_EQ(s.stop_ids, (std::vector<int32_t>{2, 0}));
  ASSERT_NE(t->config().chat_template(), nullptr);
  EXPECT_EQ(*t->config().chat_template(), "A");
  EXPECT_EQ(*t->config().chat_template("tool_use"), "B");
  EXPECT_EQ(t->encode("Hello world", true), (std::vector<int32_t>{1, 271, 275}));
  EXPECT_EQ(t->decode(t->encode("Hello world", true), true), "Hello world");
  std::filesystem::remove_all(dir);
}

TEST(Config, RealModels) {
  auto l = test::real_tokenizer("llama3_1");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bos_id(), 128000);
  EXPECT_EQ(l->special_tokens().eos.text, "<|eot_id|>");
  EXPECT_EQ(l->eos_id(), 128009);
  EXPECT_TRUE(l->special_tokens().add_bos);
  // <|eot_id|> ends a turn, <|end_of_text|> the text. (This copy of the Llama-3.1 tokenizer
  // predates
  // <|eom_id|>: 128008 is still a reserved token here, so it is no stop.)
  for (int32_t id : {128009, 128001}) EXPECT_TRUE(l->special_tokens().is_stop(id)) << id;
  EXPECT_FALSE(l->special_tokens().is_stop(128008));
  ASSERT_NE(l->config().chat_template(), nullptr);

  auto g = test::real_tokenizer("gemma3");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->special_tokens().bos.text, "<bos>");
  EXPECT_TRUE(g->special_tokens().add_bos);
  EXPECT_EQ(g->special_tokens().eos.text, "<end_of_turn>");
  EXPECT_EQ(g->special_tokens().pad.text, "<pad>");
  EXPECT_TRUE(g->special_tokens().is_stop(*g->token_to_id("<end_of_turn>")));

  auto q = test::real_tokenizer("qwen3");
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->special_tokens().bos.present());
  EXPECT_FALSE(q->special_tokens().add_bos);
  EXPECT_EQ(q->eos_id(), 151645);
  EXPECT_TRUE(q->special_tokens().is_stop(151643));  // <|endoftext|>
}

}  // namespace
}  // namespace osprey

namespace osprey {
namespace {

TEST(Regex, OnigurumaClassesTranslate) {
  EXPECT_EQ(tok::translate_pattern(R"(\s+(?!\S))"), R"([\s\x{85}]+(?![^\s\x{85}]))");
  EXPECT_EQ(tok::translate_pattern(R"([^\s\p{L}])"), R"([^\s\x{85}\p{L}])");
  EXPECT_EQ(tok::translate_pattern(R"(\w+|[^\w\s]+)"),
            R"([\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Pc}\s\x{85}]+)");
  EXPECT_EQ(tok::translate_pattern(R"([]\s]\u00e9\u{1F600})"), R"([\]\s\x{85}]\x{00e9}\x{1F600})");
  // NEL is whitespace, as in Oniguruma.
  const json ws = {{"type", "Split"},
                   {"pattern", {{"Regex", "\\s+"}}},
                   {"behavior", "Isolated"},
                   {"invert", false}};
  EXPECT_EQ(pre_tokenize(ws, "a\u0085b"), (Strings{"a", "\u0085", "b"}));
}

}  // namespace
}  // namespace osprey
