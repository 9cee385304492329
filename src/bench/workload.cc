#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "bench/sharegpt.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::bench {

namespace {

// Ids a random prompt may use: not special, not byte-fallback pieces (which decode to invalid
// UTF-8 on their own).
std::vector<int32_t> usable_ids(const Tokenizer& tok) {
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < tok.vocab_size(); ++i) {
    if (!tok.is_special(i) && !tok.is_byte_token(i) && !tok.id_to_token(i).empty())
      ids.push_back(i);
  }
  if (ids.empty()) unsupported("the tokenizer has no ordinary tokens to make random prompts from");
  return ids;
}

std::string exact_text(const Tokenizer& tok, const std::vector<int32_t>& pool, int64_t n,
                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&] { return pool[rng() % pool.size()]; };
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& t : ids) t = pick();
    for (int round = 0; round < 32; ++round) {
      std::string text = tok.decode(ids);
      std::vector<int32_t> again = tok.encode(text, false);
      if (static_cast<int64_t>(again.size()) == n) return text;
      if (static_cast<int64_t>(again.size()) > n) {
        again.resize(static_cast<size_t>(n));
      } else {
        while (static_cast<int64_t>(again.size()) < n) again.push_back(pick());
      }
      ids = std::move(again);
    }
  }
  unsupported("could not make text of exactly {} tokens with this tokenizer", n);
}

class Generator {
 public:
  Generator(const WorkloadOptions& o, const Tokenizer* tok) : o_(o), tok_(tok), rng_(o.seed) {
    if (tok_) ids_ = usable_ids(*tok_);
    if (!tok_ && o_.chat) {
      invalid_input(
          "chat prompts are text: give --tokenizer (random prompts are otherwise token ids)");
    }
    if (!tok_ && o_.vocab_size < 1) invalid_input("--vocab-size must be >= 1");
  }

  // A prompt of exactly n tokens (text with a tokenizer, ids without).
  BenchPrompt prompt(int64_t n) {
    if (n < 1) invalid_input("prompt lengths must be >= 1, got {}", n);
    BenchPrompt p;
    p.prompt_len = n;
    if (tok_) {
      p.text = exact_text(*tok_, ids_, n, rng_());
    } else {
      p.token_ids.resize(static_cast<size_t>(n));
      for (auto& t : p.token_ids)
        t = static_cast<int32_t>(rng_() % static_cast<uint64_t>(o_.vocab_size));
    }
    return p;
  }

  int64_t lognormal(int64_t median) {
    if (median < 1) invalid_input("lengths must be >= 1, got {}", median);
    std::lognormal_distribution<double> d(std::log(static_cast<double>(median)), 0.8);
    const auto v = static_cast<int64_t>(std::llround(d(rng_)));
    return std::clamp<int64_t>(v, 1, 8 * median);
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  const WorkloadOptions& o_;
  const Tokenizer* tok_;
  std::mt19937_64 rng_;
  std::vector<int32_t> ids_;
};

// Prefix + question as one prompt for /v1/completions (chat keeps them as two messages).
void join_prefix(BenchPrompt& q, const BenchPrompt& prefix, bool chat) {
  q.prompt_len += prefix.prompt_len;
  if (chat) {
    q.system = prefix.text;
  } else if (!prefix.text.empty()) {
    q.text =
        prefix.text + q.text;  // token counts may shift by one at the seam; prompt_len is nominal
  } else {
    q.token_ids.insert(q.token_ids.begin(), prefix.token_ids.begin(), prefix.token_ids.end());
  }
}

}  // namespace

std::string exact_length_text(const Tokenizer& tok, int64_t n, uint64_t seed) {
  if (n < 1) invalid_input("prompt lengths must be >= 1, got {}", n);
  return exact_text(tok, usable_ids(tok), n, seed);
}

std::vector<BenchPrompt> make_workload(const WorkloadOptions& o, const Tokenizer* tok) {
  if (o.num_prompts < 1) invalid_input("--num-prompts must be >= 1, got {}", o.num_prompts);
  if (o.dataset == "sharegpt") {
    return load_sharegpt(o.dataset_path, o.num_prompts, tok, o.seed,
                         o.output_len_set ? o.output_len : 0);
  }
  if (o.output_len < 1) invalid_input("--output-len must be >= 1, got {}", o.output_len);
  Generator g(o, tok);
  std::vector<BenchPrompt> out;
  if (o.dataset == "random") {
    for (int i = 0; i < o.num_prompts; ++i) {
      out.push_back(g.prompt(o.input_len));
      out.back().output_len = o.output_len;
    }
  } else if (o.dataset == "synthetic") {
    for (int i = 0; i < o.num_prompts; ++i) {
      const int64_t in = g.lognormal(o.input_len), outl = g.lognormal(o.output_len);
      out.push_back(g.prompt(in));
      out.back().output_len = outl;
    }
  } else if (o.dataset == "prefix") {
    if (o.num_prefixes < 1 || o.questions_per_prefix < 1) {
      invalid_input("--num-prefixes and --questions-per-prefix must be >= 1");
    }
    std::vector<BenchPrompt> distinct;
    for (int p = 0; p < o.num_prefixes; ++p) {
      const BenchPrompt prefix = g.prompt(o.prefix_len);
      for (int q = 0; q < o.questions_per_prefix; ++q) {
        BenchPrompt b = g.prompt(o.input_len);
        join_prefix(b, prefix, o.chat);
        b.output_len = o.output_len;
        distinct.push_back(std::move(b));
      }
    }
    std::shuffle(distinct.begin(), distinct.end(), g.rng());
    for (int i = 0; i < o.num_prompts; ++i)
      out.push_back(distinct[static_cast<size_t>(i) % distinct.size()]);
  } else {
    invalid_input("unknown --dataset '{}' (known: random, synthetic, prefix, sharegpt)", o.dataset);
  }
  return out;
}

}  // namespace osprey::bench
