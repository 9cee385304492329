// The model registry: which architectures Osprey runs, keyed by Hugging Face `architectures[0]` and
// by GGUF `general.architecture`. Registration is explicit (register_all(), once), not static-init
// magic. Each architecture lives in its own file and says only what is particular to it: how to
// read its config, whether GGUF converters permuted its Q/K rows. The forward pass is the shared
// decoder block (transformer.h) driven by the flags in ModelConfig.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "model/config.h"

namespace osprey {

namespace gguf {
class File;
}

struct Architecture {
  std::string hf_name;    // e.g. "LlamaForCausalLM"
  std::string gguf_name;  // e.g. "llama"; empty if converters write it as another architecture
  // Reads the architecture's own config.json fields; the common ones are already in `c`.
  void (*parse_hf)(const nlohmann::json& j, const std::string& source, ModelConfig& c);
  // GGUF converters interleave the rotary halves of Q/K rows for architectures that llama.cpp runs
  // with "normal" (GPT-J style) RoPE; the loader undoes it.
  bool gguf_permutes_qk;
};

void register_architecture(Architecture arch);
// Throws Error(kUnsupported) naming `source` and listing what is supported.
const Architecture& find_hf_architecture(const std::string& hf_name, const std::string& source);
const Architecture& find_gguf_architecture(const std::string& gguf_name, const std::string& source);
std::vector<std::string> supported_architectures();

// Shared config reading: Qwen-style per-layer sliding windows (use_sliding_window, layer_types,
// max_window_layers).
void parse_qwen_layer_windows(const nlohmann::json& j, const std::string& source, ModelConfig& c);

// Defined in each architecture's file; called once by the registry.
void register_llama();
void register_mistral();
void register_qwen2();
void register_qwen3();

}  // namespace osprey
