#include "model/registry.h"

#include <fmt/format.h>

#include <mutex>

#include "core/error.h"

namespace osprey {

namespace {

std::vector<Architecture>& architectures() {
  static std::vector<Architecture> archs;
  return archs;
}

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_llama();
    register_mistral();
    register_qwen2();
    register_qwen3();
  });
}

}  // namespace

void register_architecture(Architecture arch) {
  architectures().push_back(std::move(arch));
}

std::vector<std::string> supported_architectures() {
  register_all();
  std::vector<std::string> names;
  for (const auto& a : architectures()) names.push_back(a.hf_name);
  return names;
}

const Architecture& find_hf_architecture(const std::string& hf_name, const std::string& source) {
  register_all();
  for (const auto& a : architectures()) {
    if (a.hf_name == hf_name) return a;
  }
  unsupported("{}: unknown architecture '{}' (supported: {})", source, hf_name,
              fmt::join(supported_architectures(), ", "));
}

const Architecture& find_gguf_architecture(const std::string& gguf_name,
                                           const std::string& source) {
  register_all();
  for (const auto& a : architectures()) {
    if (!a.gguf_name.empty() && a.gguf_name == gguf_name) return a;
  }
  std::vector<std::string> names;
  for (const auto& a : architectures()) {
    if (!a.gguf_name.empty()) names.push_back(a.gguf_name);
  }
  unsupported("{}: unknown GGUF architecture '{}' (supported: {})", source, gguf_name,
              fmt::join(names, ", "));
}

}  // namespace osprey
