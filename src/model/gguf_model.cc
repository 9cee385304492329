#include "model/gguf_model.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "core/error.h"
#include "core/huge_pages.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "formats/ggml_dequant.h"
#include "model/gguf_names.h"
#include "model/registry.h"

namespace osprey {

namespace {

// GGML block types Osprey has no kernels for (formats/ggml_dequant.h) are converted at load: to a
// type that holds their values exactly where there is one (Q5_0, IQ4_NL -> Q8_0; Q3_K -> Q6_K),
// else (Q4_1, Q5_1, Q2_K, Q5_K) dequantized by the reference code and requantized to Q8_0, which
// keeps them within Q8_0's ~0.5% of the stored values. Either way at more bits per weight than
// stored (Q8_0 8.5, Q6_K 6.6; Q5_K is 5.5, Q3_K 3.4).
constexpr DType kFallbackDType = DType::Q8_0;

DType computed_dtype(const gguf::File& f, const gguf::TensorInfo& t) {
  if (auto d = gguf::ggml_to_dtype(t.type)) return *d;
  if (auto d = gguf::exact_computable_dtype(t.type)) return *d;
  if (gguf::has_reference_dequantizer(t.type)) return kFallbackDType;
  return f.tensor(t).dtype();  // Error(kUnsupported) naming the type
}

// Says once per file and type that a type is converted, and to what.
void note_conversion(const gguf::File& f, gguf::GgmlType type) {
  static std::mutex mu;
  static std::set<std::pair<std::string, gguf::GgmlType>> said;
  {
    std::lock_guard lock(mu);
    if (!said.emplace(f.name(), type).second) return;
  }
  const auto exact = gguf::exact_computable_dtype(type);
  log::info("{}: {} tensors have no kernels; computing them as {} ({})", f.name(),
            gguf::ggml_type_name(type), dtype_name(exact.value_or(kFallbackDType)),
            exact ? "every value kept" : "requantized");
}

Tensor computable_tensor(const gguf::File& f, const gguf::TensorInfo& t) {
  if (gguf::ggml_to_dtype(t.type) || !gguf::has_reference_dequantizer(t.type)) {
    return f.tensor(t);  // viewed in place, or Error(kUnsupported) naming the type
  }
  note_conversion(f, t.type);
  const auto bytes = f.tensor_bytes(t);
  const int64_t k = t.shape.back(), rows = std::max<int64_t>(1, shape_numel(t.shape) / k);
  const size_t in_row = bytes.size() / static_cast<size_t>(rows);
  Tensor out;
  if (const auto exact = gguf::exact_computable_dtype(t.type)) {
    out = Tensor::zeros(*exact, t.shape);
    const size_t out_row = dtype_bytes(*exact, k);
    auto* dst = out.data<uint8_t>();
    ThreadPool::global().parallel_for(rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        gguf::convert_row_exact(t.type, bytes.data() + r * in_row, dst + r * out_row, k);
      }
    });
  } else {
    out = quantize_rows(t.shape, kFallbackDType, [&](int64_t r, float* row) {
      gguf::dequantize_ggml_row(t.type, bytes.data() + r * in_row, row, k);
    });
  }
  // The stored blocks are not needed again: out of resident memory with their pages.
  release_file_pages(bytes.data(), bytes.size());
  return out;
}

}  // namespace

ModelConfig gguf_model_config(const gguf::File& f) {
  const std::string arch_name = f.get_string("general.architecture");
  const Architecture& arch = find_gguf_architecture(arch_name, f.name());
  auto key = [&](const char* k) { return arch_name + "." + k; };
  ModelConfig c;
  c.architecture = arch.hf_name;
  c.model_type = arch_name;
  c.num_layers = static_cast<int>(f.get_u32(key("block_count")));
  c.hidden_size = static_cast<int64_t>(f.get_u64(key("embedding_length")));
  c.intermediate_size = static_cast<int64_t>(f.get_u64(key("feed_forward_length")));
  c.num_heads = static_cast<int>(f.get_u32(key("attention.head_count")));
  c.num_kv_heads = static_cast<int>(f.get_u32(key("attention.head_count_kv"), c.num_heads));
  if (c.num_heads <= 0)
    invalid_input("{}: {} must be positive", f.name(), key("attention.head_count"));
  c.head_dim = static_cast<int>(
      f.get_u32(key("attention.key_length"), static_cast<uint32_t>(c.hidden_size / c.num_heads)));
  c.rms_norm_eps = f.get_f64(key("attention.layer_norm_rms_epsilon"), 1e-5);
  c.max_position_embeddings = static_cast<int64_t>(f.get_u64(key("context_length"), 2048));
  c.rope.theta = f.get_f64(key("rope.freq_base"), 10000.0);
  const std::string scaling = f.get_string(key("rope.scaling.type"), "none");
  if (scaling == "linear") {
    c.rope.type = RopeConfig::Type::kLinear;
    c.rope.factor = f.get_f64(key("rope.scaling.factor"));
  } else if (scaling != "none") {
    unsupported(
        "{}: rope scaling '{}' is not supported (supported: none, linear, llama3 via "
        "rope_freqs.weight)",
        f.name(), scaling);
  }
  const auto* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2)
    invalid_input("{}: missing 2-D tensor 'token_embd.weight'", f.name());
  c.vocab_size = static_cast<int64_t>(f.get_u64(key("vocab_size"), embd->shape[0]));
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  // Optional parts of the block are known by the tensors present.
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.o_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;
  c.mlp_bias = f.find_tensor("blk.0.ffn_gate.bias") != nullptr;
  c.qk_norm = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;
  c.layer_window.assign(c.num_layers > 0 ? c.num_layers : 0,
                        static_cast<int>(f.get_u32(key("attention.sliding_window"), 0)));
  if (const auto* rf = f.find_tensor("rope_freqs.weight")) {
    c.rope.type = RopeConfig::Type::kLlama3;
    const Tensor t = f.tensor(*rf).to_f32();
    c.rope.freq_factors.assign(t.data<float>(), t.data<float>() + t.numel());
  }
  if (f.find("tokenizer.ggml.bos_token_id")) {
    c.bos_token_id = static_cast<int32_t>(f.get_u32("tokenizer.ggml.bos_token_id"));
  }
  if (f.find("tokenizer.ggml.eos_token_id")) {
    c.eos_token_ids = {static_cast<int32_t>(f.get_u32("tokenizer.ggml.eos_token_id"))};
  }
  c.dtype = computed_dtype(f, *embd);
  c.validate(f.name());
  if (!c.rope.freq_factors.empty() &&
      static_cast<int>(c.rope.freq_factors.size()) != c.head_dim / 2) {
    invalid_input("{}: rope_freqs.weight has {} entries, expected head_dim/2 = {}", f.name(),
                  c.rope.freq_factors.size(), c.head_dim / 2);
  }
  return c;
}

namespace {

class GgufWeights final : public WeightStore {
 public:
  GgufWeights(std::shared_ptr<const gguf::File> f, const ModelConfig& c)
      : file_(std::move(f)),
        permuted_(find_gguf_architecture(file_->get_string("general.architecture"), file_->name())
                      .gguf_permutes_qk),
        heads_(c.num_heads),
        kv_heads_(c.num_kv_heads) {
    for (const auto& t : file_->tensors()) {
      if (auto hf = gguf_names::to_hf(t.name)) hf_to_info_[*hf] = &t;
    }
  }

  const std::string& source() const override { return file_->name(); }

  std::optional<Tensor> find(const std::string& name) const override {
    auto it = hf_to_info_.find(name);
    if (it == hf_to_info_.end()) return std::nullopt;
    Tensor t = computable_tensor(*file_, *it->second);
    if (permuted_) {
      if (name.ends_with("self_attn.q_proj.weight") || name.ends_with("self_attn.q_proj.bias")) {
        return gguf_names::unpermute_qk(t, heads_);
      }
      if (name.ends_with("self_attn.k_proj.weight") || name.ends_with("self_attn.k_proj.bias")) {
        return gguf_names::unpermute_qk(t, kv_heads_);
      }
    }
    return t;
  }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, info] : hf_to_info_) out.push_back(name);
    return out;
  }

  uint64_t total_bytes() const override { return file_->size() - file_->data_offset(); }

  void prefetch(const std::function<void(uint64_t)>& on_bytes) const override {
    // Touch one byte per page; the file is mapped, so this pulls it into the page cache.
    const uint8_t* p = file_->data();
    volatile uint8_t sink = 0;
    constexpr size_t kChunk = size_t{16} << 20;
    for (size_t off = file_->data_offset(); off < file_->size(); off += kChunk) {
      const size_t end = std::min(file_->size(), off + kChunk);
      for (size_t i = off; i < end; i += 4096) sink = sink + p[i];
      if (on_bytes) on_bytes(end - off);
    }
    (void)sink;
  }

 private:
  std::shared_ptr<const gguf::File> file_;
  bool permuted_;
  int heads_, kv_heads_;
  std::map<std::string, const gguf::TensorInfo*> hf_to_info_;
};

}  // namespace

std::shared_ptr<WeightStore> gguf_weights(std::shared_ptr<const gguf::File> f,
                                          const ModelConfig& c) {
  return std::make_shared<GgufWeights>(std::move(f), c);
}

void export_gguf(const ModelConfig& c, const WeightStore& weights, const std::string& path,
                 const GgufExportOptions& opts) {
  const Architecture& arch = find_hf_architecture(c.architecture, weights.source());
  // Mistral is written as "llama" with a sliding window key, as llama.cpp's converter does.
  const std::string arch_name = arch.gguf_name.empty() ? "llama" : arch.gguf_name;
  const bool permute = find_gguf_architecture(arch_name, path).gguf_permutes_qk;
  gguf::Writer w;
  auto key = [&](const char* k) { return arch_name + "." + k; };
  w.set_string("general.architecture", arch_name);
  w.set_string("general.name", opts.name.empty() ? "osprey-export" : opts.name);
  w.set_u32("general.alignment", 32);
  w.set_u32(key("block_count"), c.num_layers);
  w.set_u32(key("context_length"), static_cast<uint32_t>(c.max_position_embeddings));
  w.set_u32(key("embedding_length"), static_cast<uint32_t>(c.hidden_size));
  w.set_u32(key("feed_forward_length"), static_cast<uint32_t>(c.intermediate_size));
  w.set_u32(key("attention.head_count"), c.num_heads);
  w.set_u32(key("attention.head_count_kv"), c.num_kv_heads);
  w.set_u32(key("attention.key_length"), c.head_dim);
  w.set_u32(key("attention.value_length"), c.head_dim);
  w.set_f32(key("attention.layer_norm_rms_epsilon"), static_cast<float>(c.rms_norm_eps));
  w.set_f32(key("rope.freq_base"), static_cast<float>(c.rope.theta));
  w.set_u32(key("vocab_size"), static_cast<uint32_t>(c.vocab_size));
  if (c.rope.type == RopeConfig::Type::kLinear) {
    w.set_string(key("rope.scaling.type"), "linear");
    w.set_f32(key("rope.scaling.factor"), static_cast<float>(c.rope.factor));
  }
  int window = 0;
  for (int lw : c.layer_window) {
    if (lw != 0 && window != 0 && lw != window) {
      unsupported("{}: per-layer sliding windows cannot be written to GGUF", weights.source());
    }
    if (lw != 0) window = lw;
  }
  if (window > 0) w.set_u32(key("attention.sliding_window"), window);
  if (c.bos_token_id) w.set_u32("tokenizer.ggml.bos_token_id", *c.bos_token_id);
  if (!c.eos_token_ids.empty()) w.set_u32("tokenizer.ggml.eos_token_id", c.eos_token_ids[0]);
  bool has_vocab = false;
  for (const auto& [k, v] : opts.tokenizer) {
    if (k.starts_with("tokenizer.")) w.set(k, v);
    has_vocab = has_vocab || k == "tokenizer.ggml.model";
  }
  // Said outright, as llama.cpp's converter does for vocabulary-less checkpoints, so that readers
  // (llama.cpp among them) load the weights instead of failing on a missing key.
  if (!has_vocab) w.set_string("tokenizer.ggml.model", "no_vocab");

  // llama3 frequency scaling travels as per-frequency divisors, as llama.cpp's converter writes it.
  if (c.rope.type == RopeConfig::Type::kLlama3) {
    RopeConfig plain = c.rope;
    plain.type = RopeConfig::Type::kDefault;
    const auto base = rope_inv_freq(plain, c.head_dim);
    const auto scaled = rope_inv_freq(c.rope, c.head_dim);
    Tensor factors = Tensor::zeros(DType::F32, {static_cast<int64_t>(base.size())});
    for (size_t i = 0; i < base.size(); ++i) factors.data<float>()[i] = base[i] / scaled[i];
    w.add_tensor("rope_freqs.weight", factors);
  }
  for (const auto& name : weights.names()) {
    auto gname = gguf_names::to_gguf(name);
    if (!gname) continue;
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;
    Tensor t = *weights.find(name);
    const bool matrix = t.ndim() == 2;
    if (!matrix) {
      t = t.to_f32();
    } else if (opts.matrix_dtype && *opts.matrix_dtype != t.dtype()) {
      t = t.to_f32().f32_to(*opts.matrix_dtype);
    }
    if (permute) {
      if (name.find("self_attn.q_proj.") != std::string::npos)
        t = gguf_names::permute_qk(t, c.num_heads);
      if (name.find("self_attn.k_proj.") != std::string::npos) {
        t = gguf_names::permute_qk(t, c.num_kv_heads);
      }
    }
    w.add_tensor(*gname, t);
  }
  w.write(path);
}

}  // namespace osprey
