#include "model/loader.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/progress.h"
#include "formats/gguf.h"
#include "model/gguf_model.h"

namespace osprey {

namespace fs = std::filesystem;

namespace {

ModelConfig read_hf_config(const std::string& folder) {
  const fs::path p = fs::path(folder) / "config.json";
  std::ifstream in(p);
  if (!in) fail(ErrorKind::kIo, "{}: no config.json (not a Hugging Face model folder?)", folder);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: not valid JSON: {}", p.string(), e.what());
  }
  return parse_hf_config(j, p.string());
}

void check_path(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(ErrorKind::kIo, "{}: no such file or folder", path);
}

}  // namespace

bool is_gguf_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

ModelConfig load_config(const std::string& path) {
  check_path(path);
  if (is_gguf_path(path)) return gguf_model_config(*gguf::File::open(path));
  if (!fs::is_directory(path)) {
    invalid_input("{}: not a Hugging Face model folder or a GGUF file", path);
  }
  return read_hf_config(path);
}

OpenedModel open_model(const std::string& path, const LoadOptions& opts) {
  check_path(path);
  OpenedModel out;
  if (is_gguf_path(path)) {
    auto file = gguf::File::open(path);
    out.config = gguf_model_config(*file);
    out.weights = gguf_weights(file, out.config);
    out.format = "gguf";
  } else if (fs::is_directory(path)) {
    out.config = read_hf_config(path);
    out.weights = open_safetensors_weights(path);
    out.format = "safetensors";
  } else {
    invalid_input("{}: not a Hugging Face model folder or a GGUF file", path);
  }
  if (opts.prefetch) {
    ProgressBar bar("loading " + fs::path(path).filename().string(), out.weights->total_bytes(),
                    true, opts.progress);
    out.weights->prefetch([&](uint64_t n) { bar.advance(n); });
  }
  if (opts.quantize) out.weights = quantize_weights(std::move(out.weights), *opts.quantize);
  return out;
}

LoadedModel load_model(const std::string& path, const LoadOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  OpenedModel opened = open_model(path, opts);
  LoadedModel out;
  out.path = path;
  out.format = opened.format;
  out.model = std::make_unique<TransformerModel>(std::move(opened.config),
                                                 std::move(opened.weights), opts.repack_weights);
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace osprey
