#include "engine/cpu_model_runner.h"

#include <algorithm>

#include "backend/cpu/kernels.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "engine/kv_sizing.h"
#include "kv/paged_kv_cache.h"
#include "model/loader.h"
#include "osprey/engine.h"
#include "sampling/logits_processors.h"

namespace osprey::engine {
namespace {

class CpuModelRunner final : public ModelRunner {
 public:
  CpuModelRunner(const EngineConfig& config, int64_t max_model_len)
      : model_(load_model(config.model, {.quantize = parse_quantize_type(config.quantize),
                                         .prefetch = true,
                                         .progress = config.progress,
                                         .repack_weights = config.repack_weights})) {
    const ModelConfig& mc = model_.model->config();
    const int32_t blocks = kv_cache_blocks(config, mc, max_model_len);
    const DType kv_dtype = kv_cache_dtype(config, mc);
    cache_ = std::make_unique<PagedKVCache>(mc.num_layers, mc.kv_dim(), blocks, config.block_size,
                                            kv_dtype);
    log::info("cpu: {} threads, {} kernels, {} KV blocks of {} tokens ({})",
              ThreadPool::global().size(), cpu::isa_name(cpu::active_isa()), blocks,
              config.block_size, dtype_name(kv_dtype));
  }

  const ModelConfig& config() const override { return model_.model->config(); }
  std::string device() const override { return "cpu"; }
  int32_t num_kv_blocks() const override { return cache_->num_blocks(); }
  void copy_block(int32_t src, int32_t dst) override { cache_->copy_block(src, dst); }

  void forward(const RunnerBatch& batch, float* logits) override {
    ForwardBatch fb;
    fb.tokens = batch.tokens;
    cache_->clear_bindings();
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      const auto& s = batch.seqs[i];
      fb.seqs.push_back({static_cast<int>(i), s.start_pos, s.num_tokens, false});
      cache_->bind(static_cast<int>(i), s.block_table);
    }
    model_.model->forward(fb, *cache_, logits);
  }

  void forward_sample(const RunnerBatch& batch, std::span<const sampling::RowDraw> draws,
                      std::span<const sampling::LogitEdit> edits,
                      std::span<sampling::Drawn> out) override {
    const int64_t vocab = config().vocab_size;
    logits_.resize(batch.seqs.size() * static_cast<size_t>(vocab));
    forward(batch, logits_.data());
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(draws.size()), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i)
            draw_row({logits_.data() + i * vocab, static_cast<size_t>(vocab)}, draws[i],
                     edits.subspan(draws[i].edit_begin, draws[i].edit_count), out[i]);
        });
  }

 private:
  // SequenceSampler::sample()'s steps from a RowDraw: raw logprobs, the edits, the draw.
  static void draw_row(std::span<float> row, const sampling::RowDraw& d,
                       std::span<const sampling::LogitEdit> edits, sampling::Drawn& out) {
    thread_local sampling::SampleScratch scratch;
    thread_local std::vector<float> raw;  // the edited tokens' logits before their edits
    sampling::LogSoftmaxStats stats{};
    if (d.logprobs >= 0) {
      stats = sampling::sanitize_and_stats(row);
      sampling::top_logprobs(row, d.logprobs, stats, out.top_logprobs);
    }
    raw.resize(edits.size());
    const int64_t vocab = static_cast<int64_t>(row.size());
    for (size_t k = 0; k < edits.size(); ++k) {
      const auto& edit = edits[k];
      if (edit.id < 0 || edit.id >= vocab) continue;
      raw[k] = row[edit.id];
      row[edit.id] = sampling::apply_edit(row[edit.id], edit, d);
    }
    out.token = d.greedy() ? sampling::argmax(row)
                           : sampling::sample_truncated(
                                 row, {d.temperature, d.top_k, d.top_p, d.min_p}, d.u, scratch);
    if (d.logprobs >= 0) {
      float x = row[out.token];
      const auto it = std::lower_bound(edits.begin(), edits.end(), out.token,
                                       [](const auto& e, int32_t id) { return e.id < id; });
      if (it != edits.end() && it->id == out.token) x = raw[it - edits.begin()];
      out.logprob = stats.logprob(x);
    }
  }

  LoadedModel model_;
  std::unique_ptr<PagedKVCache> cache_;
  std::vector<float> logits_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_cpu_runner(const EngineConfig& config, int64_t max_model_len) {
  return std::make_unique<CpuModelRunner>(config, max_model_len);
}

}  // namespace osprey::engine
