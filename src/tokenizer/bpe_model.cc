#include "tokenizer/bpe_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace osprey::tok {

namespace {
inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

void BpeModel::build_lookup(const StringIdMap& vocab) {
  vocab_ = vocab;
  if (opt_.byte_level) {
    // Match words as raw bytes: converting the vocabulary once is cheaper than converting every
    // word.
    lookup_.reserve(vocab.size());
    std::string raw;
    for (const auto& [tok, id] : vocab) {
      raw.clear();
      if (byte_level_decode(tok, raw)) lookup_.emplace(raw, id);
    }
  }
  set_byte_ids(vocab);
}

void BpeModel::set_byte_ids(const StringIdMap& vocab) {
  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    if (auto it = vocab.find(fmt::format("<0x{:02X}>", b)); it != vocab.end())
      byte_ids_[b] = it->second;
  }
}

BpeModel::BpeModel(const StringIdMap& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, std::string_view where)
    : opt_(std::move(options)) {
  build_lookup(vocab);
  merges_.reserve(merges.size());
  const std::string& prefix = opt_.continuing_subword_prefix;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const auto ia = vocab.find(a), ib = vocab.find(b);
    if (ia == vocab.end() || ib == vocab.end()) {
      invalid_input("{}: merge {} ('{} {}') uses a token that is not in the vocabulary", where, r,
                    a, b);
    }
    std::string merged = a;
    if (!prefix.empty() && b.compare(0, prefix.size(), prefix) == 0) {
      merged.append(b, prefix.size());
    } else {
      merged += b;
    }
    const auto im = vocab.find(merged);
    if (im == vocab.end()) {
      invalid_input("{}: merge {} ('{} {}') makes '{}', which is not in the vocabulary", where, r,
                    a, b, merged);
    }
    merges_.insert_or_assign(pair_key(ia->second, ib->second),
                             MergeInfo{static_cast<int32_t>(r), im->second});
  }
}

BpeModel BpeModel::from_scores(const StringIdMap& vocab, const std::vector<float>& scores,
                               BpeOptions options) {
  BpeModel m(std::move(options));
  m.build_lookup(vocab);
  // Rank tokens by score, highest first; equal scores share a rank so that position decides.
  std::vector<std::pair<float, int32_t>> order;
  for (const auto& [tok, id] : vocab) {
    const float s = id >= 0 && static_cast<size_t>(id) < scores.size() ? scores[id] : 0.0f;
    order.emplace_back(s, id);
  }
  std::sort(order.begin(), order.end(), [](auto& x, auto& y) { return x.first > y.first; });
  std::vector<int32_t> rank_of(scores.size() + vocab.size(), 0);
  int32_t rank = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && order[i].first != order[i - 1].first) rank = static_cast<int32_t>(i);
    if (static_cast<size_t>(order[i].second) < rank_of.size()) rank_of[order[i].second] = rank;
  }
  // Every way to write a token as two tokens is a merge producing it.
  for (const auto& [tok, id] : vocab) {
    for (size_t k = 1; k < tok.size(); ++k) {
      if ((static_cast<unsigned char>(tok[k]) & 0xC0) == 0x80) continue;
      const auto l = vocab.find(std::string_view(tok).substr(0, k));
      if (l == vocab.end()) continue;
      const auto r = vocab.find(std::string_view(tok).substr(k));
      if (r == vocab.end()) continue;
      m.merges_.emplace(pair_key(l->second, r->second), MergeInfo{rank_of[id], id});
    }
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
  return std::nullopt;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  const StringIdMap& lookup = opt_.byte_level ? lookup_ : vocab_;
  if (opt_.ignore_merges) {
    if (auto it = lookup.find(word); it != lookup.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() > kMaxCachedWord) {
    merge_word(word, out);
    return;
  }
  Shard& shard = cache_[std::hash<std::string_view>{}(word) % kShards];
  {
    std::shared_lock lock(shard.mu);
    if (auto it = shard.map.find(word); it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  merge_word(word, out);
  std::unique_lock lock(shard.mu);
  if (shard.map.size() >= kMaxPerShard) shard.map.clear();
  shard.map.emplace(std::string(word), std::vector<int32_t>(out.begin() + start, out.end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  const StringIdMap& lookup = opt_.byte_level ? lookup_ : vocab_;
  struct Sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  auto add = [&](int32_t id) {
    const int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, true});
  };
  int32_t pending_unk = -1;  // an <unk> not yet emitted (fuse_unk extends it)
  std::string key;
  for (size_t i = 0; i < word.size();) {
    const size_t start = i;
    // Byte-level words are raw bytes: every byte is one symbol of the GPT-2 alphabet.
    i += opt_.byte_level ? 1 : std::max<size_t>(1, utf8_len(static_cast<unsigned char>(word[i])));
    i = std::min(i, word.size());
    std::string_view ch = word.substr(start, i - start);
    const StringIdMap::const_iterator it = [&] {
      if (opt_.continuing_subword_prefix.empty() && opt_.end_of_word_suffix.empty()) {
        return lookup.find(ch);
      }
      key.clear();
      if (start > 0) key += opt_.continuing_subword_prefix;
      key += ch;
      if (i == word.size()) key += opt_.end_of_word_suffix;
      return lookup.find(key);
    }();
    if (it != lookup.end()) {
      if (pending_unk >= 0) add(pending_unk), pending_unk = -1;
      add(it->second);
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (char c : ch) all &= byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (opt_.unk_id) {
      // Consecutive unknown chars fuse into one <unk> when fuse_unk is set.
      if (pending_unk >= 0 && !opt_.fuse_unk) add(pending_unk);
      pending_unk = *opt_.unk_id;
    }
  }
  if (pending_unk >= 0) add(pending_unk);
  if (syms.empty()) return;
  syms.back().next = -1;
  for (size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = static_cast<int32_t>(k + 1);

  struct Cand {
    int32_t rank, pos, new_id;
  };
  // Lowest rank first, then leftmost.
  auto worse = [](const Cand& a, const Cand& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Cand> heap;
  auto push_pair = [&](int32_t pos) {
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    const auto m = merges_.find(pair_key(syms[pos].id, syms[nx].id));
    if (m == merges_.end()) return;
    heap.push_back({m->second.rank, pos, m->second.new_id});
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (size_t k = 0; k + 1 < syms.size(); ++k) push_pair(static_cast<int32_t>(k));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Cand c = heap.back();
    heap.pop_back();
    Sym& left = syms[c.pos];
    if (!left.alive || left.next < 0) continue;
    // Stale candidate: one side was merged into something else since it was queued.
    const auto m = merges_.find(pair_key(left.id, syms[left.next].id));
    if (m == merges_.end() || m->second.new_id != c.new_id) continue;
    Sym& right = syms[left.next];
    left.id = c.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(c.pos);
  }
  for (int32_t k = 0; k >= 0; k = syms[k].next) out.push_back(syms[k].id);
}

}  // namespace osprey::tok
