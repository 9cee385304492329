// GGUF (llama.cpp's model format): a reader that validates hostile input before trusting any length
// or offset, and a writer for GGUF v3. Layout: "GGUF", version, n_tensors, n_kv, typed key/value
// metadata, tensor infos (name, dims innermost first, ggml type, offset into the data section),
// padding to the alignment, then tensor data. Tensor data is never copied: views point into the
// mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace osprey::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);  // "UINT32", ...; "unknown" outside the enum

// Arrays nest at most this deep (an array of arrays is depth 2): bounds recursion on hostile input.
constexpr int kMaxArrayDepth = 8;

// One metadata value. Scalars keep their exact bit pattern (floats included, so NaN payloads
// survive a round trip); arrays have one element type and hold Values of that type.
struct Value {
  ValueType type = ValueType::UINT8;

  Value() = default;
  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value string(std::string v);
  // Throws Error(kInvalidInput) when an item's type is not `elem`.
  static Value array(ValueType elem, std::vector<Value> items);
  static Value string_array(const std::vector<std::string>& v);
  static Value i32_array(const std::vector<int32_t>& v);
  static Value f32_array(const std::vector<float>& v);

  // Accessors throw Error(kInvalidInput) "GGUF value has type X, expected Y" on a mismatch. Numeric
  // ones widen: as_u64/as_i64 take any integer type whose value fits, as_f64 any integer or float.
  uint64_t as_u64() const;
  int64_t as_i64() const;
  double as_f64() const;
  float as_f32() const;  // FLOAT32 only, bit exact
  bool as_bool() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  ValueType array_type() const;

  bool is_integer() const;
  bool is_float() const { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
  // The stored bit pattern of a scalar (zero- or sign-extended integer, float/double bits).
  uint64_t raw_bits() const;
  // Short human-readable form; long arrays and strings are elided.
  std::string debug_string() const;

  bool operator==(const Value& o) const;  // bitwise for floats

 private:
  struct Array {
    ValueType elem;
    std::vector<Value> items;
  };
  std::variant<uint64_t, std::string, Array> data_;
};

// Metadata keys and values in file order.
using Metadata = std::vector<std::pair<std::string, Value>>;

// Every tensor type ggml knows (including ones Osprey cannot compute with yet), so that sizes and
// offsets validate for any real file.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeInfo {
  std::string_view name;
  uint32_t block_elems;  // elements per block (1 for plain types)
  uint32_t block_bytes;  // bytes per block
};
// Null for values that are not a known ggml type (removed types such as 4, 5, 31..33 included).
const GgmlTypeInfo* ggml_type_info(uint32_t raw);
std::string_view ggml_type_name(GgmlType t);  // "unknown" when not a known type
std::optional<DType> ggml_to_dtype(GgmlType t);
std::optional<GgmlType> dtype_to_ggml(DType t);

struct TensorInfo {
  std::string name;
  Shape shape;  // Osprey order, outermost first: GGUF's ne[] reversed
  GgmlType type;
  uint64_t offset;  // absolute byte offset in the file
  uint64_t nbytes;
};

class File {
 public:
  // Throws Error(kIo) when the file cannot be opened, Error(kInvalidInput) when it is malformed and
  // Error(kUnsupported) when it is well formed but unsupported (GGUF v1, big-endian); messages
  // start with the file name.
  static std::shared_ptr<File> open(const std::string& path);
  static std::shared_ptr<File> parse(std::shared_ptr<MappedFile> f);
  // No copy: the caller keeps `data` alive as long as the File and its tensor views.
  static std::shared_ptr<File> from_memory(const uint8_t* data, size_t size, std::string name);

  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  const Metadata& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Typed getters: Error(kInvalidInput) "FILE: metadata key 'k' missing" or "FILE: metadata key 'k'
  // has type X, expected Y". The overloads with a default return it when the key is absent (a
  // present key of the wrong type is still an error).
  std::string get_string(std::string_view key) const;
  std::string get_string(std::string_view key, std::string def) const;
  uint64_t get_u64(std::string_view key) const;
  uint64_t get_u64(std::string_view key, uint64_t def) const;
  uint32_t get_u32(std::string_view key) const;  // range-checked
  uint32_t get_u32(std::string_view key, uint32_t def) const;
  int64_t get_i64(std::string_view key) const;
  int64_t get_i64(std::string_view key, int64_t def) const;
  double get_f64(std::string_view key) const;
  double get_f64(std::string_view key, double def) const;
  float get_f32(std::string_view key) const;  // any number, narrowed
  float get_f32(std::string_view key, float def) const;
  bool get_bool(std::string_view key) const;
  bool get_bool(std::string_view key, bool def) const;
  const std::vector<Value>& get_array(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(
      std::string_view key) const;                               // integer elements, range-checked
  std::vector<float> get_f32_array(std::string_view key) const;  // numeric elements, narrowed

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // A view for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, I8, I32 and I64 that keeps the mapping alive
  // (an owned copy only when the data is not aligned for its element type, which only odd
  // general.alignment values allow). Error(kUnsupported) naming file, tensor and ggml type for the
  // other types.
  Tensor tensor(const TensorInfo& t) const;
  // The raw bytes of any tensor (for kernels that read quantized blocks directly).
  std::span<const uint8_t> tensor_bytes(const TensorInfo& t) const;
  // Owner of the bytes (the MappedFile; null for from_memory).
  const std::shared_ptr<const void>& keepalive() const { return keepalive_; }

 private:
  File() = default;
  friend class Parser;
  template <typename T, typename F>
  T typed(std::string_view key, F&& get) const;
  const Value& require(std::string_view key) const;

  std::string name_;
  std::shared_ptr<const void> keepalive_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  Metadata metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes GGUF v3. Metadata keeps insertion order (setting a key again replaces its value in place);
// tensors are written in the order added.
class Writer {
 public:
  void set(std::string key, Value v);
  void set_u32(std::string key, uint32_t v) { set(std::move(key), Value::u32(v)); }
  void set_i32(std::string key, int32_t v) { set(std::move(key), Value::i32(v)); }
  void set_u64(std::string key, uint64_t v) { set(std::move(key), Value::u64(v)); }
  void set_f32(std::string key, float v) { set(std::move(key), Value::f32(v)); }
  void set_bool(std::string key, bool v) { set(std::move(key), Value::boolean(v)); }
  void set_string(std::string key, std::string v) {
    set(std::move(key), Value::string(std::move(v)));
  }
  void set_string_array(std::string key, const std::vector<std::string>& v) {
    set(std::move(key), Value::string_array(v));
  }
  void set_i32_array(std::string key, const std::vector<int32_t>& v) {
    set(std::move(key), Value::i32_array(v));
  }
  void set_f32_array(std::string key, const std::vector<float>& v) {
    set(std::move(key), Value::f32_array(v));
  }

  // F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, I8, I32, I64; 1 to 4 dims, none zero; unique names. The
  // tensor is held (not copied) until write. Throws Error(kInvalidInput) otherwise.
  void add_tensor(std::string name, const Tensor& t);
  // A tensor of any known ggml type as stored bytes (e.g. copied from another GGUF file), held
  // (not copied) until write: `bytes` must be the size `type` and `shape` give. Throws
  // Error(kInvalidInput) otherwise.
  void add_tensor_bytes(std::string name, GgmlType type, const Shape& shape,
                        std::span<const uint8_t> bytes);

  // Honours general.alignment (UINT32, a power of two; default 32). Writes `path` through a
  // temporary file renamed into place; throws Error(kIo) on failure.
  void write(const std::string& path) const;
  // The same bytes in memory (tests, small files).
  std::vector<uint8_t> serialize() const;

 private:
  template <typename Sink>
  void emit(Sink& sink) const;
  uint64_t alignment() const;

  struct Entry {
    std::string name;
    GgmlType type;
    Shape shape;
    std::span<const uint8_t> bytes;
    Tensor keep;  // holds the bytes of add_tensor's tensors
  };
  void add_entry(Entry e);

  Metadata metadata_;
  std::vector<Entry> tensors_;
};

}  // namespace osprey::gguf
