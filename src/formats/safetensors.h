// safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw data. Tensors are zero-copy views into the mapped
// file. A sharded checkpoint (model.safetensors.index.json) is a weight_map from tensor name to
// shard file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace osprey::safetensors {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin;  // offsets relative to the start of the data section
  uint64_t end;
};

class File {
 public:
  // Throws osprey::Error whose message starts with the path and names the problem.
  static std::shared_ptr<File> open(const std::string& path);
  // Parses a buffer the caller keeps alive (fuzzing, tests).
  static std::shared_ptr<File> from_memory(const uint8_t* data, size_t size, std::string name);

  const std::string& name() const { return name_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  Tensor tensor(const TensorInfo& info) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t data_bytes() const { return size_ - data_start_; }
  const MappedFile* mapped() const { return file_.get(); }
  uint64_t data_start() const { return data_start_; }

 private:
  void parse();
  std::string name_;
  std::shared_ptr<MappedFile> file_;  // null for from_memory
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (name -> tensor, in the given order) as one safetensors file.
void write(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace osprey::safetensors
