#include "engine/cpu_model_runner.h"

#include "core/thread_pool.h"
#include "engine/kv_sizing.h"
#include "kv/paged_kv_cache.h"
#include "model/loader.h"
#include "osprey/engine.h"
#include "sampling/logits_processors.h"

namespace osprey::engine {
namespace {

constexpr float kGreedyTemperature = 1e-5f;  // as SequenceSampler: below it sampling is greedy

class CpuModelRunner final : public ModelRunner {
 public:
  CpuModelRunner(const EngineConfig& config, int64_t max_model_len)
      : model_(load_model(config.model, {.quantize = parse_quantize_type(config.quantize),
                                         .prefetch = true,
                                         .progress = config.progress,
                                         .repack_weights = config.repack_weights})) {
    const ModelConfig& mc = model_.model->config();
    const int32_t blocks = kv_cache_blocks(config, mc, max_model_len);
    cache_ = std::make_unique<PagedKVCache>(mc.num_layers, mc.kv_dim(), blocks, config.block_size);
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
                      std::span<const sampling::LogitEdit> edits, int32_t* ids) override {
    const int64_t vocab = config().vocab_size;
    logits_.resize(batch.seqs.size() * static_cast<size_t>(vocab));
    forward(batch, logits_.data());
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(draws.size()), [&](int64_t b, int64_t e) {
          thread_local sampling::SampleScratch scratch;
          for (int64_t i = b; i < e; ++i) {
            const sampling::RowDraw& d = draws[i];
            float* row = logits_.data() + i * vocab;
            for (const auto& edit : edits.subspan(d.edit_begin, d.edit_count)) {
              if (edit.id >= 0 && edit.id < vocab)
                row[edit.id] = sampling::apply_edit(row[edit.id], edit, d);
            }
            const std::span<const float> r(row, static_cast<size_t>(vocab));
            ids[i] = d.temperature >= kGreedyTemperature
                         ? sampling::sample_truncated(r, {d.temperature, d.top_k, d.top_p, d.min_p},
                                                      d.u, scratch)
                         : sampling::argmax(r);
          }
        });
  }

 private:
  LoadedModel model_;
  std::unique_ptr<PagedKVCache> cache_;
  std::vector<float> logits_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_cpu_runner(const EngineConfig& config, int64_t max_model_len) {
  return std::make_unique<CpuModelRunner>(config, max_model_len);
}

}  // namespace osprey::engine
