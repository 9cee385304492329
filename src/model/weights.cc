#include "model/weights.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "formats/safetensors.h"

namespace osprey {

namespace fs = std::filesystem;

Tensor WeightStore::get(const std::string& hf_name, const Shape& shape) const {
  auto t = find(hf_name);
  if (!t) invalid_input("{}: missing tensor '{}'", source(), hf_name);
  if (t->shape() != shape) {
    invalid_input("{}: tensor '{}' has shape {}, expected {}", source(), hf_name,
                  shape_str(t->shape()), shape_str(shape));
  }
  return *t;
}

namespace {

class SafetensorsWeights final : public WeightStore {
 public:
  explicit SafetensorsWeights(std::string folder) : folder_(std::move(folder)) {
    const fs::path index = fs::path(folder_) / "model.safetensors.index.json";
    const fs::path single = fs::path(folder_) / "model.safetensors";
    if (fs::exists(index)) {
      load_index(index.string());
    } else if (fs::exists(single)) {
      add_shard(single.string());
      for (const auto& t : shards_.back()->tensors()) where_[t.name] = 0;
    } else {
      fail(ErrorKind::kIo, "{}: no model.safetensors or model.safetensors.index.json", folder_);
    }
  }

  const std::string& source() const override { return folder_; }

  std::optional<Tensor> find(const std::string& name) const override {
    auto it = where_.find(name);
    if (it == where_.end()) return std::nullopt;
    const auto& shard = *shards_[it->second];
    const auto* info = shard.find(name);
    if (!info) return std::nullopt;
    return shard.tensor(*info);
  }

  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [name, shard] : where_) out.push_back(name);
    return out;
  }

  uint64_t total_bytes() const override {
    uint64_t n = 0;
    for (const auto& s : shards_) n += s->data_bytes();
    return n;
  }

  void prefetch(const std::function<void(uint64_t)>& on_bytes) const override {
    for (const auto& s : shards_) s->mapped()->prefetch(s->data_start(), s->data_bytes(), on_bytes);
  }

 private:
  void add_shard(const std::string& path) { shards_.push_back(safetensors::File::open(path)); }

  void load_index(const std::string& index_path) {
    nlohmann::json j;
    {
      std::ifstream in(index_path);
      if (!in) fail(ErrorKind::kIo, "{}: cannot open", index_path);
      try {
        j = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& e) {
        invalid_input("{}: not valid JSON: {}", index_path, e.what());
      }
    }
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object())
      invalid_input("{}: missing 'weight_map' object", index_path);
    std::map<std::string, size_t> shard_ids;
    for (auto& [tensor, file] : wm->items()) {
      if (!file.is_string())
        invalid_input("{}: weight_map['{}'] is not a file name", index_path, tensor);
      const std::string fname = file.get<std::string>();
      if (fname.find('/') != std::string::npos || fname == "..") {
        invalid_input("{}: shard name '{}' must be a file in the same folder", index_path, fname);
      }
      auto [it, inserted] = shard_ids.try_emplace(fname, shards_.size());
      if (inserted) {
        const fs::path shard = fs::path(folder_) / fname;
        if (!fs::exists(shard)) {
          fail(ErrorKind::kIo, "{}: shard '{}' listed in model.safetensors.index.json is missing",
               folder_, fname);
        }
        add_shard(shard.string());
      }
      if (!shards_[it->second]->find(tensor)) {
        invalid_input("{}: index says tensor '{}' is in {}, but it is not there", index_path,
                      tensor, fname);
      }
      where_[tensor] = it->second;
    }
  }

  std::string folder_;
  std::vector<std::shared_ptr<safetensors::File>> shards_;
  std::map<std::string, size_t> where_;
};

}  // namespace

std::shared_ptr<WeightStore> open_safetensors_weights(const std::string& folder) {
  return std::make_shared<SafetensorsWeights>(folder);
}

}  // namespace osprey
