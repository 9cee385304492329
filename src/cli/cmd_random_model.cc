// `osprey random-model`: writes a random-weight checkpoint of a supported architecture and size
// (Hugging Face folder, optionally also GGUF) for benchmarks and tests.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "model/gguf_model.h"
#include "model/loader.h"
#include "model/random_model.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace osprey::cli {

void add_random_model_command(CLI::App& app, Action& action) {
  auto* cmd =
      app.add_subcommand("random-model", "Write a random-weight checkpoint (HF folder, GGUF)");
  struct Opts {
    std::string preset = "tiny", arch = "llama", output, gguf, dtype = "bf16", gguf_dtype,
                tokenizer;
    int64_t hidden = 0, ffn = 0, vocab = 0, ctx = 0;
    int layers = 0, heads = 0, kv_heads = 0, head_dim = 0, sliding_window = 0;
    uint64_t seed = 0;
    bool tied = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--preset", o->preset, "Shape: tiny, llama-110m, tinyllama-1.1b, llama-3.2-1b");
  cmd->add_option("--arch", o->arch, "llama, mistral, qwen2 or qwen3");
  cmd->add_option("--output", o->output, "Folder to write (Hugging Face layout)")->required();
  cmd->add_option("--gguf", o->gguf, "Also write this GGUF file");
  cmd->add_option("--dtype", o->dtype, "Weights in the folder: f32, f16 or bf16");
  cmd->add_option("--gguf-dtype", o->gguf_dtype, "Matrices in the GGUF: f32, f16, bf16 or q8_0");
  cmd->add_option("--hidden", o->hidden, "Override hidden size");
  cmd->add_option("--ffn", o->ffn, "Override intermediate size");
  cmd->add_option("--vocab", o->vocab, "Override vocabulary size");
  cmd->add_option("--context", o->ctx, "Override max_position_embeddings");
  cmd->add_option("--layers", o->layers, "Override layer count");
  cmd->add_option("--heads", o->heads, "Override attention heads");
  cmd->add_option("--kv-heads", o->kv_heads, "Override KV heads");
  cmd->add_option("--head-dim", o->head_dim, "Override head dim");
  cmd->add_option("--sliding-window", o->sliding_window, "Sliding window (mistral)");
  cmd->add_flag("--tied", o->tied, "Tie the LM head to the embeddings");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "Copy this folder's tokenizer.json and tokenizer_config.json into the model (and "
                  "its GGUF), so that it takes text");
  cmd->add_option("--seed", o->seed, "Random seed");
  add_threads_option(cmd, o->threads);
  cmd->callback([o, &action] {
    action = [o] {
      apply_threads(o->threads);
      ModelConfig c = model_preset(o->preset);
      if (o->hidden) c.hidden_size = o->hidden;
      if (o->ffn) c.intermediate_size = o->ffn;
      if (o->vocab) c.vocab_size = o->vocab;
      if (o->ctx) c.max_position_embeddings = o->ctx;
      if (o->layers) c.num_layers = o->layers;
      if (o->heads) c.num_heads = o->heads;
      if (o->kv_heads) c.num_kv_heads = o->kv_heads;
      c.head_dim = o->head_dim ? o->head_dim : static_cast<int>(c.hidden_size / c.num_heads);
      if (o->tied) c.tie_word_embeddings = true;
      c.layer_window.assign(c.num_layers, 0);
      if (o->arch == "llama") {
        c.architecture = "LlamaForCausalLM";
      } else if (o->arch == "mistral") {
        c.architecture = "MistralForCausalLM";
        c.layer_window.assign(c.num_layers, o->sliding_window ? o->sliding_window : 4096);
      } else if (o->arch == "qwen2") {
        c.architecture = "Qwen2ForCausalLM";
        c.qkv_bias = true;
      } else if (o->arch == "qwen3") {
        c.architecture = "Qwen3ForCausalLM";
        c.qk_norm = true;
      } else {
        invalid_input("unknown --arch '{}' (llama, mistral, qwen2, qwen3)", o->arch);
      }
      c.model_type = o->arch;
      auto dtype = dtype_from_name(o->dtype == "f32" ? "F32" : o->dtype == "f16" ? "F16" : "BF16");
      if (o->dtype != "f32" && o->dtype != "f16" && o->dtype != "bf16") {
        invalid_input("--dtype must be f32, f16 or bf16");
      }
      if (!o->tokenizer.empty()) {
        // Checked before gigabytes of weights are written.
        const auto t = Tokenizer::from_dir(o->tokenizer);
        if (t->vocab_size() > c.vocab_size) {
          invalid_input("--tokenizer {} has {} tokens, more than the model's vocabulary of {}",
                        o->tokenizer, t->vocab_size(), c.vocab_size);
        }
      }
      write_random_hf_model(c, *dtype, o->seed, o->output);
      for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
        const auto from = std::filesystem::path(o->tokenizer) / f;
        if (!o->tokenizer.empty() && std::filesystem::exists(from)) {
          std::filesystem::copy_file(from, std::filesystem::path(o->output) / f,
                                     std::filesystem::copy_options::overwrite_existing);
        }
      }
      fmt::print(stderr, "wrote {} ({:.3f} B parameters)\n", o->output, c.num_parameters() / 1e9);
      if (!o->gguf.empty()) {
        GgufExportOptions eo;
        eo.name = o->preset;
        if (!o->gguf_dtype.empty()) {
          const std::string up = o->gguf_dtype == "q8_0"   ? "Q8_0"
                                 : o->gguf_dtype == "f32"  ? "F32"
                                 : o->gguf_dtype == "f16"  ? "F16"
                                 : o->gguf_dtype == "bf16" ? "BF16"
                                                           : "";
          if (up.empty()) invalid_input("--gguf-dtype must be f32, f16, bf16 or q8_0");
          eo.matrix_dtype = dtype_from_name(up);
        }
        const ModelConfig written = load_config(o->output);
        eo.tokenizer = tokenizer_metadata_of(o->output, written.vocab_size);
        export_gguf(written, *open_safetensors_weights(o->output), o->gguf, eo);
        fmt::print(stderr, "wrote {}\n", o->gguf);
      }
      return 0;
    };
  });
}

}  // namespace osprey::cli
