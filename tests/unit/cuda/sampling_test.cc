// The GPU sampler against the CPU one (sampling/truncation.cc): the same logits, parameters and
// uniform value must draw the same token. Mass is summed in fixed point on the GPU and in double on
// the CPU, so a draw landing within rounding of a boundary may differ: allow 1 in 200.
#if OSPREY_HAVE_CUDA
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cuda/kernels.h"
#include "cuda_test_util.h"
#include "sampling/logits_processors.h"
#include "sampling/row_draw.h"

namespace osprey::cuda::test {
namespace {

struct Case {
  float temperature;
  int top_k;
  float top_p, min_p;
};

TEST(CudaSampling, DrawsWhatTheCpuSamplerDraws) {
  OSPREY_REQUIRE_GPU();
  const int64_t V = 32003;  // not a multiple of the block
  const std::vector<Case> cases = {{1.0f, 0, 1.0f, 0.0f},     {0.7f, 40, 1.0f, 0.0f},
                                   {1.0f, 0, 0.9f, 0.0f},     {1.2f, 0, 1.0f, 0.05f},
                                   {0.8f, 50, 0.95f, 0.01f},  {1.0f, 1, 1.0f, 0.0f},
                                   {2.0f, 100000, 0.5f, 0.0f}};
  const int kDraws = 40;  // rows per case, each with its own u
  const int R = int(cases.size()) * kDraws;
  std::mt19937 rng(77);
  std::vector<float> logits(size_t(R) * V);
  std::normal_distribution<float> n01(0.0f, 3.0f);
  for (auto& v : logits) v = n01(rng);
  // Masked entries and an exact tie at the top of one row.
  for (int r = 0; r < R; r += 7)
    logits[size_t(r) * V + 5] = -std::numeric_limits<float>::infinity();
  logits[3] = logits[4] = 40.0f;
  std::vector<SampleParams> params(R);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  for (int r = 0; r < R; ++r) {
    const Case& c = cases[r / kDraws];
    params[r] = {c.temperature, c.top_k, c.top_p, c.min_p, u01(rng)};
  }
  DeviceBuf dl(logits.size() * 4), dp(params.size() * sizeof(SampleParams)), di(R * 4);
  upload_raw(dl, logits), upload_raw(dp, params);
  argmax_rows(dl.as<float>(), R, V, di.as<int32_t>(), nullptr);
  sample_rows(dl.as<float>(), R, V, dp.as<SampleParams>(), di.as<int32_t>(), nullptr);
  std::vector<int32_t> got(R);
  OSPREY_CUDA_CHECK(cudaMemcpy(got.data(), di.p, R * 4, cudaMemcpyDeviceToHost));
  sampling::SampleScratch scratch;
  int agree = 0;
  std::string misses;
  for (int r = 0; r < R; ++r) {
    const SampleParams& p = params[r];
    const std::span<const float> row(logits.data() + size_t(r) * V, size_t(V));
    const int32_t want =
        sampling::sample_truncated(row, {p.temperature, p.top_k, p.top_p, p.min_p}, p.u, scratch);
    if (got[r] == want) {
      ++agree;
    } else {
      misses += "row " + std::to_string(r) + " (case " + std::to_string(r / kDraws) + ", u " +
                std::to_string(p.u) + "): GPU " + std::to_string(got[r]) + ", CPU " +
                std::to_string(want) + "\n";
    }
  }
  EXPECT_GE(agree, R - R / 200) << misses;
}

TEST(CudaSampling, GreedyRowsKeepTheArgmax) {
  OSPREY_REQUIRE_GPU();
  const int64_t V = 1000;
  std::mt19937 rng(3);
  auto logits = random_vec(2 * V, rng);
  logits[17] = 5.0f, logits[V + 999] = 5.0f;
  const std::vector<SampleParams> params = {{0.0f, 0, 1.0f, 0.0f, 0.99},
                                            {0.0f, 5, 0.5f, 0.1f, 0.3}};
  DeviceBuf dl(logits.size() * 4), dp(params.size() * sizeof(SampleParams)), di(8);
  upload_raw(dl, logits), upload_raw(dp, params);
  argmax_rows(dl.as<float>(), 2, V, di.as<int32_t>(), nullptr);
  sample_rows(dl.as<float>(), 2, V, dp.as<SampleParams>(), di.as<int32_t>(), nullptr);
  std::vector<int32_t> got(2);
  OSPREY_CUDA_CHECK(cudaMemcpy(got.data(), di.p, 8, cudaMemcpyDeviceToHost));
  EXPECT_EQ(got[0], 17);
  EXPECT_EQ(got[1], 999);
}

TEST(CudaSampling, LogitEditsMatchTheSamplersProcessors) {
  OSPREY_REQUIRE_GPU();
  const int64_t V = 5000;
  std::mt19937 rng(9);
  auto logits = random_vec(2 * V, rng, -4.0f, 4.0f);
  std::vector<sampling::LogitEdit> host_edits;
  std::vector<LogitEdit> dev_edits;
  for (int id = 1; id < V; id += 37) {  // ascending ids; every combination of the processors
    sampling::LogitEdit e;
    e.id = id, e.bias = (id % 3) * 1.5f - 1.0f, e.count = id % 4, e.masked = id % 11 == 0;
    e.repeated = id % 2;
    host_edits.push_back(e);
    dev_edits.push_back(
        {e.id, e.bias, e.count,
         (e.masked ? LogitEdit::kMasked : 0) | (e.repeated ? LogitEdit::kRepeated : 0)});
  }
  dev_edits.push_back({int32_t(V + 3), 1.0f, 0, 0});  // outside the vocabulary: ignored
  sampling::RowDraw d;
  d.repetition_penalty = 1.3f, d.frequency_penalty = 0.5f, d.presence_penalty = 0.25f;
  const int n = int(host_edits.size());
  // Row 0 takes every edit, row 1 none.
  const std::vector<SampleParams> params = {
      {0.0f, 0, 1.0f, 0.0f, 0.0, 1.3f, 0.5f, 0.25f, 0, n + 1},
      {0.0f, 0, 1.0f, 0.0f, 0.0, 1.3f, 0.5f, 0.25f, n + 1, 0}};
  DeviceBuf dl(logits.size() * 4), dp(params.size() * sizeof(SampleParams)),
      de(dev_edits.size() * sizeof(LogitEdit)), draw(dev_edits.size() * 4);
  upload_raw(dl, logits), upload_raw(dp, params), upload_raw(de, dev_edits);
  apply_logit_edits(dl.as<float>(), 2, V, dp.as<SampleParams>(), de.as<LogitEdit>(),
                    draw.as<float>(), nullptr);
  std::vector<float> got(2 * V), raw(dev_edits.size());
  OSPREY_CUDA_CHECK(cudaMemcpy(got.data(), dl.p, got.size() * 4, cudaMemcpyDeviceToHost));
  OSPREY_CUDA_CHECK(cudaMemcpy(raw.data(), draw.p, raw.size() * 4, cudaMemcpyDeviceToHost));
  for (int k = 0; k < n; ++k) EXPECT_EQ(raw[k], logits[host_edits[k].id]) << k;
  std::vector<float> want = logits;
  for (const auto& e : host_edits) want[e.id] = sampling::apply_edit(want[e.id], e, d);
  for (int64_t i = 0; i < 2 * V; ++i) {
    if (std::isinf(want[i])) {
      EXPECT_TRUE(std::isinf(got[i]) && got[i] < 0) << i;
    } else {
      EXPECT_EQ(got[i], want[i]) << i;
    }
  }
}

TEST(CudaSampling, LogprobsMatchTheCpuSampler) {
  OSPREY_REQUIRE_GPU();
  const int64_t V = 50000;
  std::mt19937 rng(21);
  auto logits = random_vec(3 * V, rng, -8.0f, 8.0f);
  logits[10] = logits[11] = 9.5f;  // a tie at the top: lower id first
  logits[V + 4] = -std::numeric_limits<float>::infinity();
  // Row 0: top 5 and a greedy pick; row 1: the drawn token's only, greedy, the pick made by an
  // edit (its logprob is of the raw logit); row 2: no logprobs.
  const int32_t edited = 777;
  logits[V + edited] = 0.5f;
  const std::vector<LogitEdit> edits = {{edited, 30.0f, 0, 0}};
  std::vector<SampleParams> params(3);
  params[0].logprobs = 5;
  params[1] = {0.0f, 0, 1.0f, 0.0f, 0.0, 1, 0, 0, 0, 1, 0};
  DeviceBuf dl(logits.size() * 4), dp(3 * sizeof(SampleParams)), de(sizeof(LogitEdit)), draw(4),
      di(12), dout(3 * sizeof(LogprobOut));
  upload_raw(dl, logits), upload_raw(dp, params), upload_raw(de, edits);
  argmax_rows(dl.as<float>(), 3, V, di.as<int32_t>(), nullptr);
  logprob_stats(dl.as<float>(), 3, V, dp.as<SampleParams>(), dout.as<LogprobOut>(), nullptr);
  apply_logit_edits(dl.as<float>(), 3, V, dp.as<SampleParams>(), de.as<LogitEdit>(),
                    draw.as<float>(), nullptr);
  argmax_rows(dl.as<float>(), 3, V, di.as<int32_t>(), nullptr);
  sample_rows(dl.as<float>(), 3, V, dp.as<SampleParams>(), di.as<int32_t>(), nullptr);
  chosen_logits(dl.as<float>(), 3, V, dp.as<SampleParams>(), de.as<LogitEdit>(), draw.as<float>(),
                di.as<int32_t>(), dout.as<LogprobOut>(), nullptr);
  std::vector<LogprobOut> out(3);
  std::vector<int32_t> ids(3);
  OSPREY_CUDA_CHECK(cudaMemcpy(out.data(), dout.p, 3 * sizeof(LogprobOut), cudaMemcpyDeviceToHost));
  OSPREY_CUDA_CHECK(cudaMemcpy(ids.data(), di.p, 12, cudaMemcpyDeviceToHost));
  for (int r = 0; r < 2; ++r) {
    std::vector<float> row(logits.begin() + r * V, logits.begin() + (r + 1) * V);
    const auto stats = sampling::sanitize_and_stats(row);
    EXPECT_EQ(out[r].max, stats.max) << r;
    EXPECT_NEAR(out[r].log_sum, stats.log_sum, 1e-5) << r;
    // The drawn token's raw logit, from before row 1's edit.
    EXPECT_EQ(out[r].chosen, row[ids[r]]) << r;
  }
  EXPECT_EQ(ids[0], 10);
  EXPECT_EQ(ids[1], edited);
  EXPECT_EQ(out[1].chosen, 0.5f);
  std::vector<float> row0(logits.begin(), logits.begin() + V);
  std::vector<std::pair<int32_t, float>> want;
  sampling::top_logprobs(row0, 5, sampling::sanitize_and_stats(row0), want);
  ASSERT_EQ(out[0].n_top, 5);
  std::vector<std::pair<int32_t, float>> got;
  for (int k = 0; k < 5; ++k) got.emplace_back(out[0].top_ids[k], out[0].top_logits[k]);
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  for (int k = 0; k < 5; ++k) EXPECT_EQ(got[k].first, want[k].first) << k;
  EXPECT_EQ(out[1].n_top, 0);
}

}  // namespace
}  // namespace osprey::cuda::test
#endif
