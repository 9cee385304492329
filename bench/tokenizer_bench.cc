// Encode throughput of the real tokenizers (single thread, MB/s of UTF-8 input) on ~1 MB of English
// and ~1 MB of mixed-script text. The English text is the license texts Debian ships in every
// installation (/usr/share/common-licenses, from base-files); where they are missing, a
// deterministic generated text stands in. Tokenizers come from scripts/fetch-tokenizers.sh's cache.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

constexpr size_t kTarget = 1 << 20;

std::string english_text() {
  std::string base;
  const std::filesystem::path dir = "/usr/share/common-licenses";
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    std::map<std::string, std::filesystem::path> files;  // sorted: the same text on every machine
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.is_regular_file()) files[e.path().filename().string()] = e.path();
    for (const auto& [name, path] : files) {
      std::ifstream f(path, std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      base += ss.str();
    }
  }
  if (base.empty()) {
    static const char* words[] = {"the",    "program", "software", "license", "of",     "and",
                                  "to",     "you",     "may",      "copy",    "modify", "under",
                                  "terms,", "which",   "is",       "free",    "work.",  "This"};
    uint32_t s = 12345;
    while (base.size() < 64 * 1024) {
      s = s * 1664525u + 1013904223u;
      base += words[(s >> 16) % (sizeof(words) / sizeof(words[0]))];
      base += (s >> 8) % 13 == 0 ? "\n" : " ";
    }
  }
  std::string out;
  while (out.size() < kTarget) out += base;
  out.resize(kTarget);
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  return out;
}

std::string mixed_text() {
  static const char* parts[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "你好，世界！今天天气很好，我们去公园散步吧。",
      "こんにちは世界、東京は今日も晴れです。",
      "Привет, мир! Как дела сегодня? ",
      "مرحبا بالعالم، كيف حالك اليوم؟ ",
      "안녕하세요 여러분, 만나서 반갑습니다. ",
      "Ελληνικά: γειά σου κόσμε. ",
      "🤖🚀👍🏽 emoji 👨‍👩‍👧‍👦 ",
      "def f(x):\n    return x ** 2  # square\n",
      "नमस्ते दुनिया, आप कैसे हैं? ",
      "12345 + 67890 = 80235; ",
  };
  std::string out;
  uint32_t s = 42;
  while (out.size() < kTarget) {
    s = s * 1664525u + 1013904223u;
    out += parts[(s >> 16) % (sizeof(parts) / sizeof(parts[0]))];
  }
  return out;
}

std::shared_ptr<const osprey::Tokenizer> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const osprey::Tokenizer>> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const char* env = std::getenv("OSPREY_TOKENIZER_CACHE");
  const char* home = std::getenv("HOME");
  const std::string root =
      env && *env ? env : std::string(home ? home : "") + "/.cache/osprey/tokenizers";
  auto t = osprey::Tokenizer::from_dir(root + "/" + name);
  cache[name] = t;
  return t;
}

void BM_Encode(benchmark::State& state, const std::string& name, bool english) {
  std::shared_ptr<const osprey::Tokenizer> t;
  try {
    t = load(name);
  } catch (const std::exception& e) {
    state.SkipWithError((std::string(e.what()) + " (run scripts/fetch-tokenizers.sh)").c_str());
    return;
  }
  const std::string text = english ? english_text() : mixed_text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = t->encode(text, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

BENCHMARK_CAPTURE(BM_Encode, llama3_english, std::string("llama3"), true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3_mixed, std::string("llama3"), false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen3_english, std::string("qwen3"), true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen3_mixed, std::string("qwen3"), false)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
