// The `osprey` command as a user runs it: its documented interfaces (generate --json, logits,
// info, random-model) against the transformers reference, and exit code 2 with a clear message for
// bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "formats/safetensors.h"

namespace {

namespace fs = std::filesystem;
const std::string kFixtures = std::string(OSPREY_FIXTURES) + "/hf-reference/";

using Result = osprey::testing::CliResult;
const auto run = osprey::testing::run_cli;

std::vector<int64_t> ref_ids(const std::string& model, const std::string& name) {
  auto f = osprey::safetensors::File::open(kFixtures + model + "/reference.safetensors");
  const auto t = f->tensor(*f->find(name));
  return {t.data<int64_t>(), t.data<int64_t>() + t.numel()};
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

TEST(Cli, GenerateJsonMatchesTransformersGreedy) {
  // Prompt 1 of llama-f32: transformers' first five greedy tokens (no EOS among them).
  const auto prompt = ref_ids("llama-f32", "gen_prompt_1");
  const auto expected = ref_ids("llama-f32", "gen_output_1");
  Result r = run("generate --model " + kFixtures + "llama-f32 --prompt-ids " + join(prompt) +
                 " --max-tokens 5 --ignore-eos --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["token_ids"].get<std::vector<int64_t>>(),
            std::vector<int64_t>(expected.begin(), expected.begin() + 5));
}

TEST(Cli, LogitsFileMatchesTransformers) {
  const auto ids = ref_ids("qwen3-f32", "input_ids_2");
  const std::string out = ::testing::TempDir() + "/logits.safetensors";
  Result r = run("logits --model " + kFixtures + "qwen3-f32 --prompt-ids " + join(ids) +
                 " --output " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ours = osprey::safetensors::File::open(out);
  auto ref = osprey::safetensors::File::open(kFixtures + "qwen3-f32/reference.safetensors");
  const auto a = ours->tensor(*ours->find("logits"));
  const auto b = ref->tensor(*ref->find("logits_2"));
  ASSERT_EQ(a.shape(), b.shape());
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(double(b.data<float>()[i])));
    max_diff = std::max(max_diff, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  }
  EXPECT_LE(max_diff, 1e-3 * max_ref);
}

TEST(Cli, InfoDescribesTheModel) {
  Result r = run("info --json --model " + kFixtures + "mistral-swa-f32");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "MistralForCausalLM");
  EXPECT_EQ(j["num_kv_heads"], 2);
  EXPECT_EQ(j["vocab_size"], 512);
}

TEST(Cli, RandomModelAndItsGgufTwinGenerateTheSame) {
  const std::string dir = ::testing::TempDir() + "/cli-random";
  fs::remove_all(dir);
  Result w = run("random-model --preset tiny --arch qwen2 --dtype f32 --output " + dir +
                 " --gguf " + dir + ".gguf --seed 3");
  ASSERT_EQ(w.code, 0) << w.err;
  Result a =
      run("generate --model " + dir + " --prompt-ids 5,6,7 --max-tokens 6 --ignore-eos --json");
  Result b = run("generate --model " + dir +
                 ".gguf --prompt-ids 5,6,7 --max-tokens 6 --ignore-eos --json");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  fs::remove_all(dir);
  fs::remove(dir + ".gguf");
}

TEST(Cli, GenerateJsonlBatch) {
  const auto prompt = ref_ids("llama-f32", "gen_prompt_1");
  const auto expected = ref_ids("llama-f32", "gen_output_1");
  const std::string in = ::testing::TempDir() + "/in.jsonl",
                    out = ::testing::TempDir() + "/out.jsonl";
  {
    std::ofstream f(in);
    nlohmann::json a = {{"prompt_token_ids", prompt}, {"max_tokens", 5}, {"temperature", 0}};
    nlohmann::json b = {{"prompt_token_ids", prompt}, {"max_tokens", 3}, {"n", 2}, {"logprobs", 2}};
    f << a.dump() << "\n"
      << b.dump() << "\n{\"prompt_token_ids\": [1, 2], \"top_p\": 7}\nnot json\n";
  }
  Result r = run("generate --model " + kFixtures + "llama-f32 --input " + in + " --output " + out +
                 " --max-num-seqs 4");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(out);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["index"], 0);
  EXPECT_EQ(lines[0]["choices"][0]["token_ids"].get<std::vector<int64_t>>(),
            std::vector<int64_t>(expected.begin(), expected.begin() + 5));
  EXPECT_EQ(lines[0]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(lines[0]["usage"]["prompt_tokens"], prompt.size());
  ASSERT_EQ(lines[1]["choices"].size(), 2u);
  EXPECT_EQ(lines[1]["choices"][1]["logprobs"].size(), 3u);
  EXPECT_EQ(lines[1]["choices"][1]["logprobs"][0]["top_logprobs"].size(), 2u);
  EXPECT_NE(lines[2]["error"].get<std::string>().find("top_p"), std::string::npos);
  EXPECT_NE(lines[3]["error"].get<std::string>().find("not valid JSON"), std::string::npos);
}

std::string tokenizer_dir(const std::string& name) {
  const char* env = std::getenv("OSPREY_TOKENIZER_CACHE");
  const std::string root =
      env ? env : std::string(std::getenv("HOME")) + "/.cache/osprey/tokenizers";
  return root + "/" + name;
}

nlohmann::json tokenizer_reference() {
  std::ifstream in(std::string(OSPREY_FIXTURES) + "/tokenizers/reference.json");
  return nlohmann::json::parse(in);
}

TEST(Cli, TokenizeAndDetokenizeLikeHuggingFace) {
  const std::string dir = tokenizer_dir("llama3");
  ASSERT_TRUE(fs::exists(dir + "/tokenizer.json")) << "run scripts/fetch-tokenizers.sh";
  const auto ref = tokenizer_reference()["llama3"]["encode"];
  int checked = 0;  // each run loads the 128k-token vocabulary: a few cases prove the plumbing
  for (const auto& c : ref) {
    if (checked == 4) break;
    const std::string text = c["text"];
    if (text.empty() || text.find('\n') != std::string::npos) continue;
    ++checked;
    const std::string in = ::testing::TempDir() + "/tok-in.txt";
    std::ofstream(in) << text;
    Result r = run("tokenize --model " + dir + " --json - < " + in);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], c["ids"]) << text;
    std::string ids;
    for (const auto& id : c["ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int>());
    if (ids.empty()) continue;
    Result d = run("detokenize --model " + dir + " --json " + ids);
    ASSERT_EQ(d.code, 0) << d.err;
    EXPECT_EQ(nlohmann::json::parse(d.out)["text"], c["decode"]) << text;
  }
}

TEST(Cli, ChatTemplateRendersLikeTransformers) {
  const std::string dir = tokenizer_dir("llama3");
  ASSERT_TRUE(fs::exists(dir + "/tokenizer_config.json")) << "run scripts/fetch-tokenizers.sh";
  const auto chat = tokenizer_reference()["llama3"]["chat"];
  ASSERT_FALSE(chat.empty());
  for (const auto& c : chat) {
    const std::string msgs = ::testing::TempDir() + "/messages.json";
    std::ofstream(msgs) << c["messages"].dump();
    Result r = run("chat-template --model " + dir + " --messages " + msgs +
                   (c["add_generation_prompt"].get<bool>() ? " --add-generation-prompt" : ""));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, c["text"].get<std::string>());  // exactly, no added newline
  }
  const std::string tmpl = ::testing::TempDir() + "/bad.jinja";
  std::ofstream(tmpl) << "{{ raise_exception('no system role here') }}";
  const std::string msgs = ::testing::TempDir() + "/messages.json";
  Result bad = run("chat-template --template " + tmpl + " --messages " + msgs);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("no system role here"), std::string::npos) << bad.err;
}

struct BadInput {
  std::string args;
  std::string message;
};

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsTwoWithAClearMessage) {
  Result r = run(GetParam().args);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadInput,
    ::testing::Values(
        BadInput{"generate --model /no/such/model --prompt-ids 1", "/no/such/model: no such file"},
        BadInput{"generate --model " + kFixtures + "llama-f32 --prompt-ids 1,x",
                 "not a comma-separated"},
        BadInput{"generate --model " + kFixtures + "llama-f32 --prompt-ids 1,99999",
                 "token id 99999 is outside the vocabulary"},
        BadInput{"generate --model " + kFixtures + "llama-f32/config.json --prompt-ids 1",
                 "not a Hugging Face model folder or a GGUF file"},
        BadInput{"info --model " + kFixtures + "llama-f32/reference.json", "not a Hugging Face"},
        BadInput{"logits --prompt-ids 1 --output /tmp/x.safetensors", "--model is required"},
        BadInput{"random-model --preset huge --output /tmp/x", "unknown model preset 'huge'"}));

}  // namespace
