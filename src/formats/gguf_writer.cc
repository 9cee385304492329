// The GGUF v3 writer. It refuses anything the reader would reject (bad alignment, too-deep arrays,
// duplicate tensors, zero dims), so that every file it writes reads back.
#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "formats/gguf.h"

namespace osprey::gguf {

namespace {

constexpr uint64_t kDefaultAlignment = 32;

int array_depth(const Value& v) {
  if (v.type != ValueType::ARRAY) return 0;
  int deepest = 0;
  for (const auto& item : v.as_array()) deepest = std::max(deepest, array_depth(item));
  return deepest + 1;
}

uint64_t checked_alignment(const Value& v) {
  if (v.type != ValueType::UINT32) {
    invalid_input("GGUF writer: general.alignment has type {}, expected UINT32",
                  value_type_name(v.type));
  }
  const uint64_t a = v.raw_bits();
  if (!std::has_single_bit(a))
    invalid_input("GGUF writer: general.alignment {} is not a power of two", a);
  return a;
}

uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

struct MemorySink {
  std::vector<uint8_t>& out;
  void write(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
};

struct FileSink {
  std::FILE* f;
  const std::string& path;
  void write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f) != n) {
      fail(ErrorKind::kIo, "{}: write failed: {}", path, std::strerror(errno));
    }
  }
};

template <typename Sink, typename T>
void put(Sink& s, T v) {
  s.write(&v, sizeof v);
}

template <typename Sink>
void put_string(Sink& s, const std::string& str) {
  put(s, static_cast<uint64_t>(str.size()));
  s.write(str.data(), str.size());
}

// A value's payload (its type tag is written by the caller: KV or array header).
template <typename Sink>
void put_value(Sink& s, const Value& v) {
  switch (v.type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return put(s, static_cast<uint8_t>(v.raw_bits()));
    case ValueType::UINT16:
    case ValueType::INT16:
      return put(s, static_cast<uint16_t>(v.raw_bits()));
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return put(s, static_cast<uint32_t>(v.raw_bits()));
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return put(s, v.raw_bits());
    case ValueType::STRING:
      return put_string(s, v.as_string());
    case ValueType::ARRAY: {
      put(s, static_cast<uint32_t>(v.array_type()));
      const auto& items = v.as_array();
      put(s, static_cast<uint64_t>(items.size()));
      for (const auto& item : items) put_value(s, item);
      return;
    }
  }
  invalid_input("GGUF writer: unknown value type {}", static_cast<uint32_t>(v.type));
}

template <typename Sink>
void pad(Sink& s, uint64_t pos, uint64_t alignment) {
  static const uint8_t kZeros[256] = {};
  for (uint64_t n = align_up(pos, alignment) - pos; n > 0;) {
    const size_t chunk = std::min<uint64_t>(n, sizeof kZeros);
    s.write(kZeros, chunk);
    n -= chunk;
  }
}

// Counts bytes so that the position after the tensor infos is known without buffering them.
struct CountingSink {
  uint64_t n = 0;
  void write(const void*, size_t k) { n += k; }
};

}  // namespace

void Writer::set(std::string key, Value v) {
  if (array_depth(v) > kMaxArrayDepth) {
    invalid_input("GGUF writer: metadata key '{}': nested arrays too deep (more than {} levels)",
                  key, kMaxArrayDepth);
  }
  if (key == "general.alignment") checked_alignment(v);
  for (auto& [k, old] : metadata_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

void Writer::add_entry(Entry e) {
  for (const auto& t : tensors_) {
    if (t.name == e.name) invalid_input("GGUF writer: duplicate tensor '{}'", e.name);
  }
  if (e.shape.size() < 1 || e.shape.size() > 4) {
    invalid_input("GGUF writer: tensor '{}' has {} dimensions (must be 1 to 4)", e.name,
                  e.shape.size());
  }
  for (int64_t d : e.shape) {
    if (d <= 0) invalid_input("GGUF writer: tensor '{}' has shape {}", e.name, shape_str(e.shape));
  }
  if (!e.bytes.data()) invalid_input("GGUF writer: tensor '{}' has no data", e.name);
  tensors_.push_back(std::move(e));
}

void Writer::add_tensor(std::string name, const Tensor& t) {
  const auto type = dtype_to_ggml(t.dtype());
  if (!type) {
    invalid_input("GGUF writer: tensor '{}' has dtype {}, which GGUF cannot store", name,
                  dtype_name(t.dtype()));
  }
  const auto* data = static_cast<const uint8_t*>(t.raw());
  add_entry({std::move(name), *type, t.shape(), {data, data ? t.nbytes() : 0}, t});
}

void Writer::add_tensor_bytes(std::string name, GgmlType type, const Shape& shape,
                              std::span<const uint8_t> bytes) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) invalid_input("GGUF writer: tensor '{}' has an unknown ggml type", name);
  if (shape.empty() || shape.back() <= 0 || shape.back() % info->block_elems != 0) {
    invalid_input("GGUF writer: tensor '{}' of shape {} is not whole {} blocks of {}", name,
                  shape_str(shape), info->name, info->block_elems);
  }
  const uint64_t want =
      static_cast<uint64_t>(shape_numel(shape)) / info->block_elems * info->block_bytes;
  if (bytes.size() != want) {
    invalid_input("GGUF writer: tensor '{}' has {} bytes, its {} shape {} needs {}", name,
                  bytes.size(), info->name, shape_str(shape), want);
  }
  add_entry({std::move(name), type, shape, bytes, Tensor()});
}

uint64_t Writer::alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment") return checked_alignment(v);
  }
  return kDefaultAlignment;
}

template <typename Sink>
void Writer::emit(Sink& s) const {
  const uint64_t align = alignment();
  CountingSink counter;
  auto header = [&](auto& out) {
    out.write("GGUF", 4);
    put(out, uint32_t{3});
    put(out, static_cast<uint64_t>(tensors_.size()));
    put(out, static_cast<uint64_t>(metadata_.size()));
    for (const auto& [k, v] : metadata_) {
      put_string(out, k);
      put(out, static_cast<uint32_t>(v.type));
      put_value(out, v);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      put_string(out, t.name);
      put(out, static_cast<uint32_t>(t.shape.size()));
      for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d)
        put(out, *d);  // GGUF lists ne innermost first
      put(out, static_cast<uint32_t>(t.type));
      put(out, offset);
      offset = align_up(offset + t.bytes.size(), align);
    }
  };
  header(counter);
  header(s);
  pad(s, counter.n, align);
  for (const auto& t : tensors_) {
    s.write(t.bytes.data(), t.bytes.size());
    pad(s, t.bytes.size(), align);
  }
}

std::vector<uint8_t> Writer::serialize() const {
  std::vector<uint8_t> out;
  MemorySink sink{out};
  emit(sink);
  return out;
}

void Writer::write(const std::string& path) const {
  alignment();  // validate before creating anything
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(ErrorKind::kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
  try {
    FileSink sink{f, tmp};
    emit(sink);
    if (std::fflush(f) != 0)
      fail(ErrorKind::kIo, "{}: write failed: {}", tmp, std::strerror(errno));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    fail(ErrorKind::kIo, "{}: write failed: {}", tmp, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    fail(ErrorKind::kIo, "{}: cannot rename into place: {}", path, std::strerror(err));
  }
}

}  // namespace osprey::gguf
