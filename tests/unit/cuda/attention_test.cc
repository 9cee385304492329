// Paged attention kernels (decode split over partitions, prefill tiles) against a double-precision
// reference, over shuffled block tables, GQA groups below and above one CTA's group, sliding
// windows.
#include <gtest/gtest.h>

#if OSPREY_HAVE_CUDA
#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <numeric>

#include "backend/cuda/kernels.h"
#include "cuda_test_util.h"

namespace osprey::cuda::test {
namespace {

struct Case {
  int heads, kv_heads, head_dim, window;
  bool bf16;
};

class Attention : public ::testing::TestWithParam<Case> {
 protected:
  // A paged cache holding random K/V for `ctx[s]` positions of each sequence, in shuffled blocks.
  void build(const std::vector<int>& ctx) {
    const Case c = GetParam();
    kvdim = c.kv_heads * c.head_dim;
    max_blocks = 0;
    for (int n : ctx) max_blocks = std::max(max_blocks, (n + kBlockSize - 1) / kBlockSize);
    int nblocks = 1;
    for (int n : ctx) nblocks += (n + kBlockSize - 1) / kBlockSize;
    std::vector<int32_t> ids(nblocks - 1);
    std::iota(ids.begin(), ids.end(), 1);
    std::shuffle(ids.begin(), ids.end(), rng);
    tables.assign(ctx.size() * max_blocks, 0);
    std::vector<float> kc(size_t(nblocks) * kBlockSize * kvdim, 0.0f), vc = kc;
    keys.assign(ctx.size(), {}), vals.assign(ctx.size(), {});
    size_t next = 0;
    for (size_t s = 0; s < ctx.size(); ++s) {
      for (int b = 0; b < (ctx[s] + kBlockSize - 1) / kBlockSize; ++b)
        tables[s * max_blocks + b] = ids[next++];
      keys[s] = random_vec(size_t(ctx[s]) * kvdim, rng),
      vals[s] = random_vec(size_t(ctx[s]) * kvdim, rng);
      for (int p = 0; p < ctx[s]; ++p)
        for (int i = 0; i < kvdim; ++i) {
          const size_t slot =
              size_t(tables[s * max_blocks + p / kBlockSize]) * kBlockSize + p % kBlockSize;
          if (c.bf16) keys[s][p * kvdim + i] = round_bf16(keys[s][p * kvdim + i]);
          if (c.bf16) vals[s][p * kvdim + i] = round_bf16(vals[s][p * kvdim + i]);
          kc[slot * kvdim + i] = keys[s][p * kvdim + i];
          vc[slot * kvdim + i] = vals[s][p * kvdim + i];
        }
    }
    dk = std::make_unique<DeviceBuf>(kc.size() * 4),
    dv = std::make_unique<DeviceBuf>(vc.size() * 4);
    dt = std::make_unique<DeviceBuf>(tables.size() * 4);
    upload(*dk, kc, c.bf16), upload(*dv, vc, c.bf16), upload_raw(*dt, tables);
  }
  // Attention of one query row (seq s, position pos, head h) in double.
  void reference(int s, int pos, int h, const float* q, float* out) const {
    const Case c = GetParam();
    const int hd = c.head_dim, kvh = h / (c.heads / c.kv_heads);
    const int first = c.window > 0 ? std::max(0, pos - c.window + 1) : 0;
    std::vector<double> sc;
    double mx = -1e300;
    for (int p = first; p <= pos; ++p) {
      double d = 0;
      for (int i = 0; i < hd; ++i) d += double(q[i]) * keys[s][p * kvdim + kvh * hd + i];
      sc.push_back(d / std::sqrt(double(hd)));
      mx = std::max(mx, sc.back());
    }
    double sum = 0;
    for (double& e : sc) sum += (e = std::exp(e - mx));
    for (int i = 0; i < hd; ++i) {
      double a = 0;
      for (int p = first; p <= pos; ++p) a += sc[p - first] * vals[s][p * kvdim + kvh * hd + i];
      out[i] = float(a / sum);
    }
  }
  AttnShape shape() const {
    const Case c = GetParam();
    return {c.heads, c.kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)), c.window};
  }

  // Decode of one new token per sequence (contexts `ctx`, the cache from build(ctx)) against the
  // reference.
  void expect_decode_matches(const std::vector<int>& ctx, int splits, int part) {
    const Case c = GetParam();
    const int S = int(ctx.size()), qdim = c.heads * c.head_dim;
    auto q = random_vec(size_t(S) * qdim, rng);
    DeviceBuf dq(q.size() * 4), dl(S * 4), dout(q.size() * 4);
    DeviceBuf pacc(size_t(S) * c.heads * splits * c.head_dim * 4),
        pml(size_t(S) * c.heads * splits * 8);
    DeviceBuf counters(decode_counters(S, shape()) * sizeof(int));
    OSPREY_CUDA_CHECK(cudaMemset(counters.p, 0, counters.bytes));
    upload(dq, q, c.bf16), upload_raw(dl, ctx);
    std::vector<float> ref(q.size());
    for (int s = 0; s < S; ++s)
      for (int h = 0; h < c.heads; ++h)
        reference(s, ctx[s] - 1, h, &q[s * qdim + h * c.head_dim], &ref[s * qdim + h * c.head_dim]);
    // Twice: the merge counters must be back at zero after a launch, and the result repeat bit
    // for bit.
    std::vector<float> runs[2];
    for (auto& out : runs) {
      OSPREY_CUDA_CHECK(cudaMemset(dout.p, 0xff, dout.bytes));
      attn_decode(dq.p, {dk->p, dv->p, dt->as<int32_t>(), max_blocks, 1}, dl.as<int32_t>(), S,
                  shape(), splits, part, {pacc.as<float>(), pml.as<float>(), counters.as<int>()},
                  dout.p, c.bf16, nullptr);
      out = download(dout, ref.size(), c.bf16);
      EXPECT_LE(rel_err(out, ref), c.bf16 ? 1e-2 : 1e-5) << S << " sequences, partition " << part;
    }
    EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), ref.size() * 4), 0);
  }

  std::mt19937 rng{99};
  int kvdim = 0, max_blocks = 0;
  std::vector<int32_t> tables;
  std::vector<std::vector<float>> keys, vals;
  std::unique_ptr<DeviceBuf> dk, dv, dt;
};

TEST_P(Attention, DecodeMatchesReference) {
  OSPREY_REQUIRE_GPU();
  const std::vector<int> ctx = {1, 300, 777, 16};
  build(ctx);
  for (int part : {kDecodePartition, kDecodePartitionSmall}) {
    expect_decode_matches(ctx, (777 + part - 1) / part + 1, part);  // one CTA more than needed
    expect_decode_matches(ctx, 2, part);  // CTAs fold several partitions each
  }
}

// A batch large enough for the tensor-core path where the shape has one (bf16, head size 64 or
// 128): one CTA per (sequence, kv head) over the whole context.
TEST_P(Attention, LargeDecodeBatchMatchesReference) {
  OSPREY_REQUIRE_GPU();
  const Case c = GetParam();
  const int S = std::max(8, (kMmaDecodeMinCtas + c.kv_heads - 1) / c.kv_heads);
  std::vector<int> ctx(S);
  for (int i = 0; i < S; ++i) ctx[i] = 1 + (i * 37) % 260;
  build(ctx);
  EXPECT_EQ(decode_uses_mma(S, shape(), c.bf16), c.bf16 && (c.head_dim == 64 || c.head_dim == 128));
  expect_decode_matches(ctx, (260 + kDecodePartition - 1) / kDecodePartition, kDecodePartition);
}

TEST_P(Attention, PrefillMatchesReference) {
  OSPREY_REQUIRE_GPU();
  const Case c = GetParam();
  // (start, new tokens): a fresh prompt, a chunk after a cached prefix, a single token, and a chunk
  // spanning several 64-key tiles of the tensor-core kernel.
  const std::vector<std::pair<int, int>> seqs = {{0, 37}, {40, 20}, {0, 1}, {5, 70}, {100, 90}};
  std::vector<int> ctx;
  for (auto [st, n] : seqs) ctx.push_back(st + n);
  build(ctx);
  const int qdim = c.heads * c.head_dim, per = prefill_item_tokens(shape());
  std::vector<PrefillItem> items;
  int T = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int k = 0; k < seqs[s].second; k += per)
      items.push_back({int(s), T + k, std::min(per, seqs[s].second - k), seqs[s].first + k});
    T += seqs[s].second;
  }
  auto q = random_vec(size_t(T) * qdim, rng);
  DeviceBuf dq(q.size() * 4), di(items.size() * sizeof(PrefillItem)), dout(q.size() * 4);
  upload(dq, q, c.bf16), upload_raw(di, items);
  attn_prefill(dq.p, {dk->p, dv->p, dt->as<int32_t>(), max_blocks, 1}, di.as<PrefillItem>(),
               int(items.size()), shape(), dout.p, c.bf16, nullptr);
  std::vector<float> ref(q.size());
  int t = 0;
  for (size_t s = 0; s < seqs.size(); ++s)
    for (int k = 0; k < seqs[s].second; ++k, ++t)
      for (int h = 0; h < c.heads; ++h)
        reference(int(s), seqs[s].first + k, h, &q[t * qdim + h * c.head_dim],
                  &ref[t * qdim + h * c.head_dim]);
  EXPECT_LE(rel_err(download(dout, ref.size(), c.bf16), ref), c.bf16 ? 1e-2 : 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Attention,
                         ::testing::Values(Case{8, 2, 64, 0, true}, Case{8, 2, 64, 100, true},
                                           Case{8, 2, 64, 20, true}, Case{12, 1, 128, 0, true},
                                           Case{6, 2, 128, 70, true}, Case{4, 2, 16, 0, true},
                                           Case{8, 2, 64, 0, false}, Case{4, 2, 32, 20, false},
                                           Case{32, 8, 64, 0, true}, Case{32, 1, 64, 0, true}),
                         [](const auto& i) {
                           const Case& c = i.param;
                           return fmt::format("h{}kv{}d{}w{}{}", c.heads, c.kv_heads, c.head_dim,
                                              c.window, c.bf16 ? "bf16" : "f32");
                         });

}  // namespace
}  // namespace osprey::cuda::test
#endif
