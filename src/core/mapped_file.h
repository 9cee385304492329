// A read-only memory-mapped file. Weights are views into it, so it lives as long as any tensor that
// points into it (hold it through a shared_ptr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace osprey {

class MappedFile {
 public:
  // Throws Error(kIo) naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Reads every page once (with a progress callback per chunk), so that load time is paid at load
  // and not during the first forward pass.
  void prefetch(size_t offset, size_t length, const std::function<void(size_t)>& on_bytes) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace osprey
