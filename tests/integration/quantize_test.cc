// `osprey quantize` and `--quantize` as a user runs them: the GGUF written loads and generates,
// exactly as quantizing the same checkpoint at load does, and bad types are refused with exit
// code 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "formats/gguf.h"

namespace {

namespace fs = std::filesystem;
const std::string kModel = std::string(OSPREY_FIXTURES) + "/hf-reference/llama-f32";

using CliRun = osprey::testing::CliResult;
const auto osprey = osprey::testing::run_cli;

TEST(Quantize, WrittenGgufLoadsAndGeneratesLikeQuantizingAtLoad) {
  for (const std::string type : {"q8_0", "q4_0"}) {
    const std::string out = ::testing::TempDir() + "/llama-f32-" + type + ".gguf";
    CliRun q = osprey("quantize --model " + kModel + " --type " + type + " --output " + out);
    ASSERT_EQ(q.code, 0) << q.err;
    EXPECT_NE(q.out.find("wrote " + out), std::string::npos) << q.out;
    // The file says what it holds: quantized projections, an f32 embedding.
    const auto f = osprey::gguf::File::open(out);
    const std::string upper = type == "q8_0" ? "Q8_0" : "Q4_0";
    EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("blk.0.attn_q.weight")->type), upper);
    EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("blk.1.ffn_gate.weight")->type), upper);
    EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("output.weight")->type), "Q8_0");
    EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("token_embd.weight")->type), "F32");

    const std::string gen = " --prompt-ids 1,17,300,42 --max-tokens 6 --ignore-eos --json";
    CliRun a = osprey("generate --model " + out + gen);
    CliRun b = osprey("generate --model " + kModel + " --quantize " + type + gen);
    ASSERT_EQ(a.code, 0) << a.err;
    ASSERT_EQ(b.code, 0) << b.err;
    const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
    EXPECT_EQ(ja["token_ids"].size(), 6u);
    EXPECT_EQ(ja["token_ids"], jb["token_ids"]) << type;
    fs::remove(out);
  }
}

// K-quants: on a model whose rows are whole 256-blocks the projections become Q4_K and the output
// layer Q6_K, and the file generates what quantizing at load does; on the 64-wide fixture every
// projection falls back to Q8_0.
TEST(Quantize, KQuantGgufLoadsAndGeneratesLikeQuantizingAtLoad) {
  const std::string model = ::testing::TempDir() + "/kquant-model";
  CliRun m = osprey(
      "random-model --preset tiny --hidden 256 --ffn 512 --layers 2 --heads 4 "
      "--kv-heads 2 --vocab 512 --seed 3 --output " +
      model);
  ASSERT_EQ(m.code, 0) << m.err;
  const std::string out = model + "-q4_k.gguf";
  CliRun q = osprey("quantize --model " + model + " --type q4_k --output " + out);
  ASSERT_EQ(q.code, 0) << q.err;
  const auto f = osprey::gguf::File::open(out);
  EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("blk.0.attn_q.weight")->type), "Q4_K");
  EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("blk.1.ffn_down.weight")->type), "Q4_K");
  EXPECT_EQ(osprey::gguf::ggml_type_name(f->find_tensor("output.weight")->type), "Q6_K");
  const std::string gen = " --prompt-ids 1,17,300,42 --max-tokens 6 --ignore-eos --json";
  CliRun a = osprey("generate --model " + out + gen);
  CliRun b = osprey("generate --model " + model + " --quantize q4_k" + gen);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["token_ids"], nlohmann::json::parse(b.out)["token_ids"]);

  const std::string narrow = ::testing::TempDir() + "/llama-f32-q4_k.gguf";
  q = osprey("quantize --model " + kModel + " --type q4_k --output " + narrow);
  ASSERT_EQ(q.code, 0) << q.err;
  const auto g = osprey::gguf::File::open(narrow);
  EXPECT_EQ(osprey::gguf::ggml_type_name(g->find_tensor("blk.0.attn_q.weight")->type), "Q8_0");
  fs::remove_all(model);
  fs::remove(out);
  fs::remove(narrow);
}

// The vocabulary travels with the weights: a folder's tokenizer.json is converted (here Llama 2's,
// given to a random model by random-model --tokenizer), and a folder without one is marked
// "no_vocab", which llama.cpp loads and Osprey runs on token ids.
TEST(Quantize, GgufCarriesTheFoldersVocabularyOrSaysItHasNone) {
  const char* home = std::getenv("HOME");
  const std::string cache = std::getenv("OSPREY_TOKENIZER_CACHE")
                                ? std::getenv("OSPREY_TOKENIZER_CACHE")
                                : std::string(home ? home : "") + "/.cache/osprey/tokenizers";
  const std::string model = ::testing::TempDir() + "/vocab-model";
  CliRun m = osprey("random-model --preset tiny --vocab 32000 --seed 5 --output " + model +
                    " --tokenizer " + cache + "/llama2");
  ASSERT_EQ(m.code, 0) << m.err;
  const std::string out = model + "-q8_0.gguf";
  CliRun q = osprey("quantize --model " + model + " --type q8_0 --output " + out);
  ASSERT_EQ(q.code, 0) << q.err;
  const auto f = osprey::gguf::File::open(out);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 32000u);
  EXPECT_EQ(f->get_u32("tokenizer.ggml.bos_token_id"), 1u);
  // Text in, text out, from the GGUF file alone.
  CliRun g = osprey("generate --model " + out +
                    " --prompt 'Hello world' --max-tokens 4 "
                    "--ignore-eos --json");
  ASSERT_EQ(g.code, 0) << g.err;
  const auto j = nlohmann::json::parse(g.out);
  EXPECT_EQ(j["token_ids"].size(), 4u);
  EXPECT_TRUE(j["text"].is_string());

  // From a GGUF source the tokenizer keys are copied as they are.
  const std::string again = model + "-q4_0.gguf";
  q = osprey("quantize --model " + out + " --type q4_0 --output " + again);
  ASSERT_EQ(q.code, 0) << q.err;
  const auto a = osprey::gguf::File::open(again);
  EXPECT_EQ(a->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(a->get_string_array("tokenizer.ggml.tokens"),
            f->get_string_array("tokenizer.ggml.tokens"));
  fs::remove(again);

  // Too few embedding rows for the tokenizer: refused before any weight is written.
  CliRun small = osprey("random-model --preset tiny --vocab 1000 --output " + model +
                        "-small --tokenizer " + cache + "/llama2");
  EXPECT_EQ(small.code, 2);
  EXPECT_NE(small.err.find("32000 tokens"), std::string::npos) << small.err;
  EXPECT_FALSE(fs::exists(model + "-small"));

  const std::string bare = ::testing::TempDir() + "/llama-f32-bare.gguf";
  q = osprey("quantize --model " + kModel + " --type q8_0 --output " + bare);
  ASSERT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(osprey::gguf::File::open(bare)->get_string("tokenizer.ggml.model"), "no_vocab");
  g = osprey("generate --model " + bare + " --prompt-ids 1,2,3 --max-tokens 2 --ignore-eos");
  EXPECT_EQ(g.code, 0) << g.err;
  fs::remove_all(model);
  fs::remove(out);
  fs::remove(bare);
}

// The benchmark interface other tools rely on: bench latency takes --quantize too.
TEST(Quantize, BenchLatencyQuantizesAtLoad) {
  for (const std::string type : {"q8_0", "q4_0", "q4_k"}) {
    CliRun r = osprey("bench latency --model " + kModel + " --quantize " + type +
                      " --input-len 16 --output-len 4 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0) << type;
    EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0) << type;
  }
  EXPECT_EQ(osprey("bench latency --model " + kModel + " --quantize q2_k --json").code, 2);
}

TEST(Quantize, BadTypeOrModelIsAClearError) {
  CliRun r = osprey("quantize --model " + kModel + " --type q3_k --output /tmp/never.gguf");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("q3_k"), std::string::npos) << r.err;
  r = osprey("quantize --model /no/such/model --type q8_0 --output /tmp/never.gguf");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/no/such/model"), std::string::npos) << r.err;
  r = osprey("generate --model " + kModel + " --quantize q5_1 --prompt-ids 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists("/tmp/never.gguf"));
}

}  // namespace
