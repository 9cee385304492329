// CudaModel behind the engine's ModelRunner interface. The engine's KV manager numbers blocks from
// 0; CudaModel keeps block 0 as the scratch block of padded graph rows, so ids shift by one here.
#include "backend/cuda/cuda_runner.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>

#include "backend/cuda/cuda_model.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"
#include "core/log.h"
#include "model/loader.h"
#include "osprey/engine.h"

namespace osprey::cuda {
namespace {

class CudaModelRunner final : public ModelRunner {
 public:
  CudaModelRunner(const EngineConfig& config, int64_t max_model_len) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      fail(ErrorKind::kUnsupported, "device 'cuda': no usable GPU ({})",
           e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
    }
    if (config.block_size != kBlockSize) {
      invalid_input("device 'cuda': --block-size must be {} (the CUDA kernels' block), not {}",
                    kBlockSize, config.block_size);
    }
    if (!config.quantize.empty())
      fail(ErrorKind::kUnsupported, "device 'cuda': --quantize is not supported on the GPU yet");
    if (config.kv_cache_dtype != "auto" && config.kv_cache_dtype != "bf16") {
      fail(ErrorKind::kUnsupported, "device 'cuda': the KV cache is bf16 (--kv-cache-dtype {})",
           config.kv_cache_dtype);
    }
    OpenedModel opened = open_model(config.model, {.prefetch = true, .progress = config.progress});
    CudaModelOptions o;
    o.bf16 = true;
    o.max_batch_tokens = static_cast<int>(config.max_num_batched_tokens);
    o.max_seqs = config.max_num_seqs;
    o.max_logit_rows = config.max_num_seqs;
    o.max_seq_len = max_model_len;
    o.gpu_memory_utilization = config.gpu_memory_utilization;
    if (config.kv_cache_memory > 1) {
      const ModelConfig& mc = opened.config;
      const double block_bytes = double(mc.num_layers) * 2 * kBlockSize * double(mc.kv_dim()) * 2;
      o.num_blocks = 1 + static_cast<int64_t>(config.kv_cache_memory / block_bytes);
    } else if (config.kv_cache_memory != 0) {
      invalid_input(
          "device 'cuda': --kv-cache-memory takes bytes; size the cache as a share of GPU memory "
          "with --gpu-memory-utilization");
    }
    model_ = std::make_unique<CudaModel>(opened.config, *opened.weights, o);
    if (model_->num_blocks() < 2)
      invalid_input("device 'cuda': no room for the KV cache after the weights and activations");
    auto t0 = std::chrono::steady_clock::now();
    const CudaModel::GemmTuning tuned = model_->tune_gemms();
    if (tuned.shapes > 0)
      log::info(
          "cuda: GEMM algorithms for {} shapes timed in {:.2f} s ({} run Osprey's streaming "
          "kernel); a decode step's GEMMs at batch {}: {:.3f} ms (cuBLAS default {:.3f} ms)",
          tuned.shapes,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          tuned.stream_shapes, o.max_seqs, tuned.decode_tuned_ms, tuned.decode_default_ms);
    // Every decode batch size's graph now, rather than inside the first steps that need them.
    t0 = std::chrono::steady_clock::now();
    model_->capture_decode_graphs();
    log::info("cuda: decode graphs for batches of 1 to {} captured in {:.2f} s", o.max_seqs,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    int dev = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
      name_ = prop.name;
    log::info("cuda: {} ({}), {} KV blocks of {} positions", name_, device(),
              model_->num_blocks() - 1, kBlockSize);
  }

  const ModelConfig& config() const override { return model_->config(); }
  std::string device() const override { return "cuda:0"; }
  int32_t num_kv_blocks() const override {
    return static_cast<int32_t>(std::min<int64_t>(model_->num_blocks() - 1, 1 << 30));
  }
  void copy_block(int32_t src, int32_t dst) override { model_->copy_block(src + 1, dst + 1); }

  void forward(const RunnerBatch& batch, float* logits) override {
    model_->forward(to_cuda(batch), logits);
  }
  void forward_sample(const RunnerBatch& batch, std::span<const sampling::RowDraw> draws,
                      std::span<const sampling::LogitEdit> edits,
                      std::span<sampling::Drawn> out) override {
    const CudaBatch& cb = to_cuda(batch);
    bool greedy = edits.empty(), logprobs = false;
    for (const auto& d : draws) {
      greedy = greedy && d.greedy() && d.logprobs < 0;
      logprobs = logprobs || d.logprobs >= 0;
    }
    ids_.resize(draws.size());
    if (greedy) {
      model_->greedy_step(cb, ids_.data());  // the argmax is part of the step's graph
    } else {
      params_.resize(draws.size());
      for (size_t i = 0; i < draws.size(); ++i) {
        const auto& d = draws[i];
        params_[i] = {d.temperature,
                      d.top_k,
                      d.top_p,
                      d.min_p,
                      d.u,
                      d.repetition_penalty,
                      d.frequency_penalty,
                      d.presence_penalty,
                      static_cast<int32_t>(d.edit_begin),
                      static_cast<int32_t>(d.edit_count),
                      d.logprobs};
      }
      edits_.resize(edits.size());
      for (size_t i = 0; i < edits.size(); ++i) {
        const auto& e = edits[i];
        edits_[i] = {e.id, e.bias, e.count,
                     (e.masked ? LogitEdit::kMasked : 0) | (e.repeated ? LogitEdit::kRepeated : 0)};
      }
      logprobs_.resize(logprobs ? draws.size() : 0);
      model_->sample_step(cb, params_, edits_, ids_.data(), logprobs ? logprobs_.data() : nullptr);
    }
    for (size_t i = 0; i < draws.size(); ++i) {
      out[i].token = ids_[i];
      out[i].top_logprobs.clear();
      if (draws[i].logprobs < 0) continue;
      // The CPU sampler's formula (LogSoftmaxStats::logprob) and order (best first, lower id).
      const LogprobOut& o = logprobs_[i];
      auto logprob = [&](float x) {
        return static_cast<float>(double(x) - double(o.max) - o.log_sum);
      };
      out[i].logprob = logprob(o.chosen);
      for (int k = 0; k < o.n_top; ++k)
        out[i].top_logprobs.emplace_back(o.top_ids[k], o.top_logits[k]);
      std::sort(out[i].top_logprobs.begin(), out[i].top_logprobs.end(),
                [](const auto& a, const auto& b) {
                  return a.second > b.second || (a.second == b.second && a.first < b.first);
                });
      for (auto& e : out[i].top_logprobs) e.second = logprob(e.second);
    }
  }

 private:
  // Shifted block tables live in `tables_` until the next batch.
  const CudaBatch& to_cuda(const RunnerBatch& batch) {
    cb_.tokens = batch.tokens;
    cb_.seqs.resize(batch.seqs.size());
    tables_.resize(batch.seqs.size());
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      const auto& s = batch.seqs[i];
      auto& t = tables_[i];
      t.resize(s.block_table.size());
      std::transform(s.block_table.begin(), s.block_table.end(), t.begin(),
                     [](int32_t b) { return b + 1; });
      cb_.seqs[i] = {s.start_pos, s.num_tokens, t, false};
    }
    return cb_;
  }

  std::unique_ptr<CudaModel> model_;
  std::string name_ = "GPU";
  CudaBatch cb_;
  std::vector<SampleParams> params_;
  std::vector<LogitEdit> edits_;
  std::vector<LogprobOut> logprobs_;
  std::vector<int32_t> ids_;
  std::vector<std::vector<int32_t>> tables_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_cuda_runner(const EngineConfig& config, int64_t max_model_len) {
  return std::make_unique<CudaModelRunner>(config, max_model_len);
}

}  // namespace osprey::cuda
