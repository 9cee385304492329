// The bundled demo model (models/osprey-kjv-demo, trained by tools/train-demo-model on the King
// James Bible) end to end. A trained model is a check no random model gives: if the tokenizer, the
// forward pass, the KV cache, the scheduler or the sampler were wrong anywhere, its text would turn
// to garbage. Greedy continuations of famous passages of its training text must reproduce the text
// (the KJV as Debian's bible-kjv prints it) through the engine — batched, with prefix caching,
// under preemption, from the bf16 weights and from a Q8_0 GGUF export — and Osprey's perplexity on
// held-out chapters must equal the one the training script computed in PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "engine/kv_sizing.h"
#include "formats/gguf.h"
#include "model/generate.h"
#include "model/gguf_model.h"
#include "model/loader.h"
#include "model/weights.h"
#include "osprey/llm.h"
#include "tokenizer/gguf_vocab_writer.h"
#include "tokenizer/tokenizer.h"

namespace osprey {
namespace {

const std::string kModel = std::string(OSPREY_FIXTURES) + "/../../models/osprey-kjv-demo";
const std::string kDemo = std::string(OSPREY_FIXTURES) + "/demo/";
constexpr size_t kCompare = 20;   // tokens of each continuation compared
constexpr double kMinRate = 0.8;  // share of them that must match, position by position

struct Passage {
  const char* name;
  const char* prompt;
  const char* text;  // what follows the prompt in the KJV (one verse per line, as trained)
};

// Chapters the training script keeps in the training set (QUOTED in
// tools/train-demo-model/train.py).
const Passage kPassages[] = {
    {"Genesis 1:1-2", "In the beginning God created",
     " the heaven and the earth.\nAnd the earth was without form, and void; and darkness was upon "
     "the face of the deep."},
    {"Psalm 23:1-3", "Psalms 23\nThe LORD is my shepherd;",
     " I shall not want.\nHe maketh me to lie down in green pastures: he leadeth me beside the "
     "still "
     "waters.\nHe restoreth my soul:"},
    {"John 3:16", "For God so loved the world,",
     " that he gave his only begotten Son, that whosoever believeth in him should not perish, but "
     "have everlasting life."},
    {"Matthew 6:9-11", "After this manner therefore pray ye: Our Father which art in heaven,",
     " Hallowed be thy name.\nThy kingdom come. Thy will be done in earth, as it is in "
     "heaven.\nGive "
     "us this day our daily bread."},
    {"John 1:1-3", "In the beginning was the Word,",
     " and the Word was with God, and the Word was God.\nThe same was in the beginning with "
     "God.\nAll "
     "things were made by him;"},
};

struct Case {
  std::string name;
  std::vector<int32_t> prompt, expected;  // expected: the first kCompare tokens of the text
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    auto tok = Tokenizer::from_dir(kModel);
    std::vector<Case> out;
    for (const Passage& p : kPassages) {
      Case c{p.name, tok->encode(p.prompt, false), {}};
      const auto full = tok->encode(std::string(p.prompt) + p.text, false);
      // The prompt ends where a word ends, so its tokens are a prefix of the whole passage's.
      EXPECT_TRUE(std::equal(c.prompt.begin(), c.prompt.end(), full.begin())) << p.name;
      EXPECT_GE(full.size(), c.prompt.size() + kCompare) << p.name;
      c.expected.assign(full.begin() + c.prompt.size(),
                        full.begin() + std::min(full.size(), c.prompt.size() + kCompare));
      out.push_back(std::move(c));
    }
    return out;
  }();
  return all;
}

double match_rate(const std::vector<int32_t>& got, const std::vector<int32_t>& expected) {
  size_t same = 0;
  for (size_t i = 0; i < expected.size() && i < got.size(); ++i) same += got[i] == expected[i];
  return static_cast<double>(same) / static_cast<double>(expected.size());
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = kCompare;
  p.ignore_eos = true;
  return p;
}

EngineConfig engine_config(const std::string& model) {
  EngineConfig c;
  c.model = model;
  c.progress = false;
  c.kv_cache_memory = 16 << 20;
  return c;
}

std::vector<Prompt> prompts() {
  std::vector<Prompt> out;
  for (const Case& c : cases()) out.push_back({std::nullopt, c.prompt});
  return out;
}

// Every passage reproduced; returns the generated tokens for comparisons across configurations.
std::vector<std::vector<int32_t>> expect_reproduced(const std::vector<RequestOutput>& out,
                                                    const std::string& what) {
  std::vector<std::vector<int32_t>> tokens;
  EXPECT_EQ(out.size(), cases().size());
  for (size_t i = 0; i < out.size() && i < cases().size(); ++i) {
    EXPECT_TRUE(out[i].error.empty()) << what << ": " << out[i].error;
    const auto& got = out[i].outputs.at(0).token_ids;
    const double rate = match_rate(got, cases()[i].expected);
    std::cout << what << ": " << cases()[i].name << " " << rate * 100 << "% of " << kCompare
              << " tokens: \"" << out[i].outputs[0].text << "\"\n";
    EXPECT_GE(rate, kMinRate) << what << ": " << cases()[i].name << " continued as \""
                              << out[i].outputs[0].text << "\"";
    tokens.push_back(got);
  }
  return tokens;
}

TEST(DemoModel, ReproducesFamousPassagesInOneBatch) {
  LLM llm(engine_config(kModel));
  const auto out = llm.generate(prompts(), {greedy()});
  expect_reproduced(out, "bf16 batch");
  // The engine's text is the tokenizer's decoding of its tokens.
  const auto tok = Tokenizer::from_dir(kModel);
  for (const auto& r : out) EXPECT_EQ(r.outputs[0].text, tok->decode(r.outputs[0].token_ids));
}

// Delta outputs' text adds up to the cumulative text, a stop string held back and cut included.
TEST(DemoModel, DeltaTextAddsUpToTheCumulativeText) {
  LLMEngine e(engine_config(kModel));
  SamplingParams p = greedy();
  p.max_tokens = 40;
  p.stop = {"earth"};
  SamplingParams d = p;
  d.output_kind = OutputKind::kDelta;
  e.add_request("cumulative", {std::string("In the beginning God created"), {}}, p);
  e.add_request("delta", {std::string("In the beginning God created"), {}}, d);
  std::string delta_text;
  RequestOutput last;
  int deltas = 0;
  while (e.has_unfinished()) {
    for (auto& o : e.step()) {
      if (o.request_id == "delta") {
        delta_text += o.outputs[0].text;
        ++deltas;
      } else {
        last = std::move(o);
      }
    }
  }
  EXPECT_GT(deltas, 2);
  EXPECT_EQ(last.outputs[0].finish_reason, "stop");
  EXPECT_NE(last.outputs[0].text.find("the heaven and the "), std::string::npos)
      << last.outputs[0].text;
  EXPECT_EQ(delta_text, last.outputs[0].text);
}

TEST(DemoModel, PrefixCachingAndPreemptionChangeNothing) {
  EngineConfig plain = engine_config(kModel);
  plain.enable_prefix_caching = false;
  const auto reference = expect_reproduced(LLM(plain).generate(prompts(), {greedy()}), "no cache");

  // The same batch twice through one engine with 4-token blocks: the second time every prompt's
  // full blocks come from the prefix cache, and the continuations are the same tokens.
  EngineConfig cached = engine_config(kModel);
  cached.block_size = 4;
  LLM llm(cached);
  EXPECT_EQ(expect_reproduced(llm.generate(prompts(), {greedy()}), "prefix cache, first"),
            reference);
  const auto again = llm.generate(prompts(), {greedy()});
  EXPECT_EQ(expect_reproduced(again, "prefix cache, second"), reference);
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_GE(again[i].num_cached_prompt_tokens, 4) << cases()[i].name;
  }

  // A KV cache of 12 blocks of 4 tokens for five sequences of up to 36 tokens: the scheduler must
  // preempt (and recompute) while every continuation stays the same.
  const ModelConfig mc = load_config(kModel);
  EngineConfig tiny = engine_config(kModel);
  tiny.block_size = 4;
  const int64_t bytes_per_token = int64_t{2} * mc.num_layers * mc.num_kv_heads *
                                  dtype_bytes(engine::kv_cache_dtype(tiny, mc), mc.head_dim);
  tiny.kv_cache_memory = static_cast<double>(12 * 4 * bytes_per_token);
  LLM small(tiny);
  EXPECT_EQ(expect_reproduced(small.generate(prompts(), {greedy()}), "preemption"), reference);
  EXPECT_GT(small.engine().stats().num_preemptions, 0);
  EXPECT_LE(small.engine().stats().num_blocks, 12);
}

TEST(DemoModel, Q8_0GgufExportReproducesThePassages) {
  const std::string gguf = ::testing::TempDir() + "/osprey-kjv-demo-q8_0.gguf";
  GgufExportOptions q8;
  q8.matrix_dtype = DType::Q8_0;
  q8.name = "osprey-kjv-demo";
  q8.tokenizer = gguf_tokenizer_metadata(kModel, load_config(kModel).vocab_size);
  export_gguf(load_config(kModel), *open_safetensors_weights(kModel), gguf, q8);
  // Every matrix of the transformer blocks, the embedding included, is stored as Q8_0 (the model's
  // widths are multiples of 32); only the norm vectors stay F32.
  int matrices = 0;
  for (const auto& t : gguf::File::open(gguf)->tensors()) {
    if (t.shape.size() == 2) {
      EXPECT_EQ(t.type, gguf::GgmlType::Q8_0) << t.name;
      ++matrices;
    }
  }
  EXPECT_EQ(matrices, 1 + 7 * load_config(kModel).num_layers);
  LLM llm(engine_config(gguf));
  expect_reproduced(llm.generate(prompts(), {greedy()}), "Q8_0 GGUF");
  // The vocabulary went along (byte-level BPE, written as llama.cpp's "gpt2" with pre "gpt-2"):
  // the file's own tokenizer encodes every passage, with BOS, as the folder's does.
  const auto from_file = Tokenizer::from_gguf(*gguf::File::open(gguf));
  const auto from_folder = Tokenizer::from_dir(kModel);
  for (const Case& c : cases()) {
    const std::string text = from_folder->decode(c.prompt) + from_folder->decode(c.expected);
    EXPECT_EQ(from_file->encode(text, true), from_folder->encode(text, true)) << text;
  }
  std::filesystem::remove(gguf);
}

// The perplexity tools/train-demo-model/train.py computed on tests/fixtures/demo/heldout.txt
// (held-out chapters it never trained on): the text cut into consecutive windows of 256 tokens, in
// each window tokens 1..255 predicted from the window's earlier tokens, perplexity = exp(mean
// negative log- likelihood over all predicted tokens). PyTorch ran it in f32 over the bf16-rounded
// weights.
TEST(DemoModel, HeldOutPerplexityMatchesTheTrainingScript) {
  std::ifstream jf(kDemo + "heldout.json");
  ASSERT_TRUE(jf) << kDemo << "heldout.json";
  const auto ref = nlohmann::json::parse(jf);
  std::ifstream tf(kDemo + ref["file"].get<std::string>(), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());

  const auto ids = Tokenizer::from_dir(kModel)->encode(text, false);
  ASSERT_EQ(ids, ref["token_ids"].get<std::vector<int32_t>>())
      << "Osprey tokenizes the text differently";

  LoadOptions lo;
  lo.prefetch = false;
  lo.progress = false;
  LoadedModel m = load_model(kModel, lo);
  const int64_t window = ref["window"].get<int64_t>();
  const int64_t vocab = m.model->config().vocab_size;
  const size_t windows = ids.size() / static_cast<size_t>(window);
  ASSERT_EQ(windows, ref["windows"].get<size_t>());
  double nll = 0;
  int64_t count = 0;
  for (size_t w = 0; w < windows; ++w) {
    const std::vector<int32_t> x(ids.begin() + static_cast<int64_t>(w) * window,
                                 ids.begin() + static_cast<int64_t>(w + 1) * window);
    const auto logits = prompt_logits(*m.model, x);
    for (int64_t t = 0; t + 1 < window; ++t) {
      const float* row = logits.data() + t * vocab;
      double mx = row[0];
      for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, double(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
      nll += mx + std::log(sum) - double(row[x[t + 1]]);
      ++count;
    }
  }
  ASSERT_EQ(count, ref["predicted_tokens"].get<int64_t>());
  const double ppl = std::exp(nll / static_cast<double>(count));
  const double script = ref["perplexity"].get<double>();
  std::cout << "held-out perplexity: Osprey " << ppl << ", training script " << script << " ("
            << windows << " windows of " << window << " tokens)\n";
  EXPECT_NEAR(ppl / script, 1.0, 0.01);
}

TEST(DemoModel, GenerateUsesItWhenNoModelIsGiven) {
  const testing::CliResult r =
      testing::run_cli("generate --prompt 'In the beginning God created' --max-tokens 6");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(" the heaven and the earth.", 0), 0u) << r.out;
}

}  // namespace
}  // namespace osprey
