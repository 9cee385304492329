// The GGUF reader. Every length, count and offset comes from untrusted input, so each is checked
// against the bytes actually left before it is used (to read, to reserve memory or to compute an
// address), and all size arithmetic is overflow-checked.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "formats/gguf.h"

namespace osprey::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF is read as little-endian");

namespace {

constexpr uint32_t kMaxDims = 4;
// Smallest possible encodings, used to reject counts that cannot fit before allocating for them:
// a KV is a key length (8) + value type (4) + at least a 1-byte value; a tensor info is a name
// length (8) + ndims (4) + one dim (8) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 32;

// Keys and names come from the file: keep them short and printable in messages.
std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > 80) out += fmt::format("...({} bytes)", s.size());
  return out;
}

uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
    case ValueType::STRING:  // its length
      return 8;
    case ValueType::ARRAY:  // element type + count
      return 12;
  }
  return 1;
}

bool known_value_type(uint32_t t) {
  return t <= static_cast<uint32_t>(ValueType::FLOAT64);
}

// What a view's element pointer must be aligned to (the quantized blocks hold f16 scales).
size_t view_alignment(DType d) {
  switch (d) {
    case DType::I8:
      return 1;
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return 2;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
  }
  return 8;
}

}  // namespace

class Parser {
 public:
  explicit Parser(File& f) : f_(f), data_(f.data_), size_(f.size_) {}

  void run() {
    read_header();
    for (uint64_t i = 0; i < n_kv_; ++i) read_kv();
    if (n_tensors_ > left() / kMinTensorInfoBytes) {
      fail("{} tensor infos cannot fit in the {} bytes left at offset {}", n_tensors_, left(),
           pos_);
    }
    f_.tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) read_tensor_info();
    ctx_.clear();
    place_tensors();
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail_kind(ErrorKind kind, fmt::format_string<Args...> fmt_str, Args&&... args) {
    throw Error(kind, fmt::format("{}: {}{}", f_.name_, ctx_,
                                  fmt::format(fmt_str, std::forward<Args>(args)...)));
  }
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> fmt_str, Args&&... args) {
    fail_kind(ErrorKind::kInvalidInput, fmt_str, std::forward<Args>(args)...);
  }

  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view what) {
    if (n > left())
      fail("truncated {} at offset {}: need {} bytes, {} left", what, pos_, n, left());
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const auto len = read<uint64_t>(what);
    if (len > left()) {
      fail("{} length {} at offset {} is larger than the {} bytes left", what, len, pos_ - 8,
           left());
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  void read_header() {
    need(4, "header");
    if (std::memcmp(data_, "GGUF", 4) != 0) {
      fail("bad magic {:02x} {:02x} {:02x} {:02x} (not a GGUF file)", data_[0], data_[1], data_[2],
           data_[3]);
    }
    pos_ = 4;
    f_.version_ = read<uint32_t>("header");
    const uint32_t v = f_.version_;
    if (v != 2 && v != 3) {
      const uint32_t swapped = __builtin_bswap32(v);
      if (swapped >= 1 && swapped <= 3) fail_kind(ErrorKind::kUnsupported, "big-endian GGUF");
      fail_kind(ErrorKind::kUnsupported, "unsupported GGUF version {} (supported: 2, 3)", v);
    }
    n_tensors_ = read<uint64_t>("header");
    n_kv_ = read<uint64_t>("header");
    if (n_kv_ > left() / kMinKvBytes) {
      fail("n_kv {} cannot fit in the {} bytes after the header", n_kv_, left());
    }
    if (n_tensors_ > left() / kMinTensorInfoBytes) {
      fail("n_tensors {} cannot fit in the {} bytes after the header", n_tensors_, left());
    }
  }

  ValueType read_type(std::string_view what) {
    const auto t = read<uint32_t>(what);
    if (!known_value_type(t)) fail("unknown value type {} at offset {}", t, pos_ - 4);
    return static_cast<ValueType>(t);
  }

  Value read_value(ValueType t, int depth) {
    switch (t) {
      case ValueType::UINT8:
        return Value::u8(read<uint8_t>("value"));
      case ValueType::INT8:
        return Value::i8(read<int8_t>("value"));
      case ValueType::UINT16:
        return Value::u16(read<uint16_t>("value"));
      case ValueType::INT16:
        return Value::i16(read<int16_t>("value"));
      case ValueType::UINT32:
        return Value::u32(read<uint32_t>("value"));
      case ValueType::INT32:
        return Value::i32(read<int32_t>("value"));
      case ValueType::UINT64:
        return Value::u64(read<uint64_t>("value"));
      case ValueType::INT64:
        return Value::i64(read<int64_t>("value"));
      case ValueType::FLOAT32:
        return Value::f32(read<float>("value"));
      case ValueType::FLOAT64:
        return Value::f64(read<double>("value"));
      case ValueType::BOOL: {
        const auto b = read<uint8_t>("value");
        if (b > 1) fail("invalid BOOL byte {} at offset {}", b, pos_ - 1);
        return Value::boolean(b != 0);
      }
      case ValueType::STRING:
        return Value::string(read_string("string"));
      case ValueType::ARRAY:
        return read_array(depth + 1);
    }
    fail("unknown value type {}", static_cast<uint32_t>(t));
  }

  Value read_array(int depth) {
    if (depth > kMaxArrayDepth)
      fail("nested arrays too deep (more than {} levels)", kMaxArrayDepth);
    const ValueType elem = read_type("array");
    const auto count = read<uint64_t>("array");
    if (count > left() / min_value_bytes(elem)) {
      fail("array length {} of {} at offset {} is larger than the {} bytes left", count,
           value_type_name(elem), pos_ - 8, left());
    }
    std::vector<Value> items;
    items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(elem, depth));
    return Value::array(elem, std::move(items));
  }

  void read_kv() {
    ctx_.clear();
    std::string key = read_string("metadata key");
    ctx_ = fmt::format("metadata key '{}': ", printable(key));
    if (f_.metadata_index_.count(key)) fail("duplicate metadata key");
    const ValueType t = read_type("value type");
    Value v = read_value(t, 0);
    if (key == "general.alignment") {
      if (t != ValueType::UINT32) fail("has type {}, expected UINT32", value_type_name(t));
      const uint64_t a = v.raw_bits();
      if (!std::has_single_bit(a)) fail("alignment {} is not a power of two", a);
      f_.alignment_ = a;
    }
    f_.metadata_index_.emplace(key, f_.metadata_.size());
    f_.metadata_.emplace_back(std::move(key), std::move(v));
  }

  void read_tensor_info() {
    ctx_.clear();
    TensorInfo ti;
    ti.name = read_string("tensor name");
    ctx_ = fmt::format("tensor '{}': ", printable(ti.name));
    if (f_.tensor_index_.count(ti.name)) fail("duplicate tensor name");
    const auto ndims = read<uint32_t>("tensor info");
    if (ndims == 0 || ndims > kMaxDims) fail("{} dimensions (must be 1 to {})", ndims, kMaxDims);
    int64_t ne[kMaxDims];
    int64_t numel = 1;
    for (uint32_t d = 0; d < ndims; ++d) {
      ne[d] = read<int64_t>("tensor info");
      if (ne[d] <= 0) fail("dimension {} is {} (must be positive)", d, ne[d]);
      if (__builtin_mul_overflow(numel, ne[d], &numel)) fail("element count overflows");
    }
    const auto raw_type = read<uint32_t>("tensor info");
    const GgmlTypeInfo* info = ggml_type_info(raw_type);
    if (!info) fail("unknown ggml type {}", raw_type);
    ti.type = static_cast<GgmlType>(raw_type);
    // ggml stores whole blocks per row (along ne[0]).
    if (ne[0] % info->block_elems != 0) {
      fail("row length {} is not a multiple of the {} block size {}", ne[0], info->name,
           info->block_elems);
    }
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel) / info->block_elems,
                               uint64_t{info->block_bytes}, &ti.nbytes)) {
      fail("byte size overflows");
    }
    ti.offset = read<uint64_t>("tensor info");
    if (ti.offset % f_.alignment_ != 0) {
      fail("offset {} is not aligned to {} bytes", ti.offset, f_.alignment_);
    }
    ti.shape.assign(std::make_reverse_iterator(ne + ndims), std::make_reverse_iterator(ne));
    f_.tensor_index_.emplace(ti.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(ti));
  }

  // Relative offsets become absolute; every tensor must lie inside the file and none may overlap.
  void place_tensors() {
    // pos_ <= size_ and alignment <= 2^32, so this cannot overflow.
    f_.data_offset_ = (pos_ + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
    for (auto& t : f_.tensors_) {
      const uint64_t rel = t.offset;
      uint64_t end = 0;
      if (__builtin_add_overflow(f_.data_offset_, rel, &t.offset) ||
          __builtin_add_overflow(t.offset, t.nbytes, &end) || end > size_) {
        ctx_ = fmt::format("tensor '{}': ", printable(t.name));
        fail("data ({} bytes at data offset {}) is past the end of the file ({} bytes)", t.nbytes,
             rel, size_);
      }
    }
    // Stable, so that a message about equal offsets names the tensors in file order.
    std::vector<size_t> order(f_.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return f_.tensors_[a].offset < f_.tensors_[b].offset;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      const auto& a = f_.tensors_[order[i - 1]];
      const auto& b = f_.tensors_[order[i]];
      if (a.offset + a.nbytes > b.offset) {
        fail("tensors '{}' and '{}' overlap", printable(a.name), printable(b.name));
      }
    }
  }

  File& f_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
  std::string ctx_;  // "metadata key 'k': " or "tensor 't': " while parsing one
};

std::shared_ptr<File> File::from_memory(const uint8_t* data, size_t size, std::string name) {
  std::shared_ptr<File> f(new File());
  f->name_ = std::move(name);
  f->data_ = data;
  f->size_ = data ? size : 0;
  Parser(*f).run();
  return f;
}

std::shared_ptr<File> File::parse(std::shared_ptr<MappedFile> m) {
  std::shared_ptr<File> f(new File());
  f->name_ = m->path();
  f->data_ = m->data();
  f->size_ = m->size();
  f->keepalive_ = std::move(m);
  Parser(*f).run();
  return f;
}

std::shared_ptr<File> File::open(const std::string& path) {
  return parse(MappedFile::open(path));
}

const Value* File::find(std::string_view key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> File::tensor_bytes(const TensorInfo& t) const {
  // Infos come from this file, which validated them; the check guards against a foreign TensorInfo.
  OSPREY_CHECK(t.offset <= size_ && t.nbytes <= size_ - t.offset, "{}: tensor '{}' not in file",
               name_, t.name);
  return {data_ + t.offset, static_cast<size_t>(t.nbytes)};
}

Tensor File::tensor(const TensorInfo& t) const {
  const auto dtype = ggml_to_dtype(t.type);
  if (!dtype) {
    unsupported("{}: tensor '{}' has ggml type {}, which Osprey cannot view yet", name_,
                printable(t.name), ggml_type_name(t.type));
  }
  const auto bytes = tensor_bytes(t);
  if (reinterpret_cast<uintptr_t>(bytes.data()) % view_alignment(*dtype) == 0) {
    return Tensor::file_view(bytes.data(), *dtype, t.shape, keepalive_);
  }
  // Only a file with general.alignment below the element size gets here: copy rather than hand the
  // kernels a misaligned pointer.
  Tensor copy = Tensor::zeros(*dtype, t.shape);
  std::memcpy(copy.data<uint8_t>(), bytes.data(), bytes.size());
  return copy;
}

}  // namespace osprey::gguf
