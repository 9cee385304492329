#include "bench/sharegpt.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::bench {

std::vector<BenchPrompt> load_sharegpt(const std::string& path, int num, const Tokenizer* tok,
                                       uint64_t seed, int64_t fixed_output_len) {
  if (path.empty()) invalid_input("--dataset sharegpt needs --dataset-path FILE");
  if (!tok && fixed_output_len < 1) {
    invalid_input("--dataset sharegpt needs --tokenizer to count answer lengths, or --output-len");
  }
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) invalid_input("{}: not valid JSON", path);
  if (!j.is_array()) invalid_input("{}: a ShareGPT file is a JSON array of conversations", path);

  struct Pair {
    const std::string* prompt;
    const std::string* answer;
  };
  std::vector<Pair> pairs;
  for (const auto& e : j) {
    if (!e.is_object()) continue;
    auto c = e.find("conversations");
    if (c == e.end()) c = e.find("conversation");
    if (c == e.end() || !c->is_array() || c->size() < 2) continue;
    const auto& a = (*c)[0];
    const auto& b = (*c)[1];
    if (!a.is_object() || !b.is_object()) continue;
    auto va = a.find("value"), vb = b.find("value");
    if (va == a.end() || vb == b.end() || !va->is_string() || !vb->is_string()) continue;
    pairs.push_back({&va->get_ref<const std::string&>(), &vb->get_ref<const std::string&>()});
  }
  std::mt19937_64 rng(seed);
  std::shuffle(pairs.begin(), pairs.end(), rng);

  std::vector<BenchPrompt> usable;
  for (const auto& p : pairs) {
    if (static_cast<int>(usable.size()) >= num) break;
    BenchPrompt b;
    b.text = *p.prompt;
    if (tok) {
      b.prompt_len = static_cast<int64_t>(tok->encode(b.text, false).size());
      b.output_len = fixed_output_len > 0
                         ? fixed_output_len
                         : static_cast<int64_t>(tok->encode(*p.answer, false).size());
      if (b.prompt_len < 4 || (fixed_output_len < 1 && b.output_len < 4)) continue;
      if (b.prompt_len > 1024 || b.prompt_len + b.output_len > 2048) continue;
    } else {
      if (b.text.empty()) continue;
      b.output_len = fixed_output_len;
    }
    usable.push_back(std::move(b));
  }
  if (usable.empty())
    invalid_input("{}: no usable conversations (two turns, 4 to 1024 tokens)", path);
  std::vector<BenchPrompt> out;
  for (int i = 0; i < num; ++i) out.push_back(usable[static_cast<size_t>(i) % usable.size()]);
  return out;
}

}  // namespace osprey::bench
