// GGUF metadata values, the ggml type table, and File's typed metadata getters.
#include <fmt/format.h>

#include <bit>
#include <limits>

#include "core/error.h"
#include "formats/gguf.h"

namespace osprey::gguf {

std::string_view value_type_name(ValueType t) {
  static constexpr std::string_view kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                                "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                                "UINT64", "INT64",   "FLOAT64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

namespace {

[[noreturn]] void mismatch(ValueType got, std::string_view expected) {
  invalid_input("GGUF value has type {}, expected {}", value_type_name(got), expected);
}

bool is_signed_int(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}

Value scalar(ValueType t, uint64_t bits) {
  Value v = Value::u64(bits);
  v.type = t;
  return v;
}

}  // namespace

// Signed integers are stored sign-extended, so raw_bits() read as int64 is the value.
Value Value::u8(uint8_t v) {
  return scalar(ValueType::UINT8, v);
}
Value Value::i8(int8_t v) {
  return scalar(ValueType::INT8, static_cast<uint64_t>(int64_t{v}));
}
Value Value::u16(uint16_t v) {
  return scalar(ValueType::UINT16, v);
}
Value Value::i16(int16_t v) {
  return scalar(ValueType::INT16, static_cast<uint64_t>(int64_t{v}));
}
Value Value::u32(uint32_t v) {
  return scalar(ValueType::UINT32, v);
}
Value Value::i32(int32_t v) {
  return scalar(ValueType::INT32, static_cast<uint64_t>(int64_t{v}));
}
Value Value::u64(uint64_t v) {
  Value r;
  r.type = ValueType::UINT64;
  r.data_ = v;
  return r;
}
Value Value::i64(int64_t v) {
  return scalar(ValueType::INT64, static_cast<uint64_t>(v));
}
Value Value::f32(float v) {
  return scalar(ValueType::FLOAT32, std::bit_cast<uint32_t>(v));
}
Value Value::f64(double v) {
  return scalar(ValueType::FLOAT64, std::bit_cast<uint64_t>(v));
}
Value Value::boolean(bool v) {
  return scalar(ValueType::BOOL, v ? 1 : 0);
}

Value Value::string(std::string v) {
  Value r;
  r.type = ValueType::STRING;
  r.data_ = std::move(v);
  return r;
}

Value Value::array(ValueType elem, std::vector<Value> items) {
  if (value_type_name(elem) == "unknown") {
    invalid_input("GGUF array element type {} is unknown", static_cast<uint32_t>(elem));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].type != elem) {
      invalid_input("GGUF array of {} has an element {} of type {}", value_type_name(elem), i,
                    value_type_name(items[i].type));
    }
  }
  Value r;
  r.type = ValueType::ARRAY;
  r.data_ = Array{elem, std::move(items)};
  return r;
}

Value Value::string_array(const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(string(s));
  return array(ValueType::STRING, std::move(items));
}

Value Value::i32_array(const std::vector<int32_t>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t x : v) items.push_back(i32(x));
  return array(ValueType::INT32, std::move(items));
}

Value Value::f32_array(const std::vector<float>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float x : v) items.push_back(f32(x));
  return array(ValueType::FLOAT32, std::move(items));
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

uint64_t Value::raw_bits() const {
  const auto* bits = std::get_if<uint64_t>(&data_);
  if (!bits) mismatch(type, "a scalar");
  return *bits;
}

uint64_t Value::as_u64() const {
  if (!is_integer()) mismatch(type, "an unsigned integer");
  const uint64_t bits = raw_bits();
  if (is_signed_int(type) && static_cast<int64_t>(bits) < 0) {
    invalid_input("GGUF value is {} ({}), expected an unsigned integer", static_cast<int64_t>(bits),
                  value_type_name(type));
  }
  return bits;
}

int64_t Value::as_i64() const {
  if (!is_integer()) mismatch(type, "an integer");
  const uint64_t bits = raw_bits();
  if (type == ValueType::UINT64 && bits > static_cast<uint64_t>(INT64_MAX)) {
    invalid_input("GGUF value is {} (UINT64), which does not fit INT64", bits);
  }
  return static_cast<int64_t>(bits);
}

double Value::as_f64() const {
  if (type == ValueType::FLOAT32) return as_f32();
  if (type == ValueType::FLOAT64) return std::bit_cast<double>(raw_bits());
  if (type == ValueType::UINT64) return static_cast<double>(raw_bits());
  if (is_integer()) return static_cast<double>(static_cast<int64_t>(raw_bits()));
  mismatch(type, "a number");
}

float Value::as_f32() const {
  if (type != ValueType::FLOAT32) mismatch(type, "FLOAT32");
  return std::bit_cast<float>(static_cast<uint32_t>(raw_bits()));
}

bool Value::as_bool() const {
  if (type != ValueType::BOOL) mismatch(type, "BOOL");
  return raw_bits() != 0;
}

const std::string& Value::as_string() const {
  const auto* s = std::get_if<std::string>(&data_);
  if (type != ValueType::STRING || !s) mismatch(type, "STRING");
  return *s;
}

const std::vector<Value>& Value::as_array() const {
  const auto* a = std::get_if<Array>(&data_);
  if (type != ValueType::ARRAY || !a) mismatch(type, "ARRAY");
  return a->items;
}

ValueType Value::array_type() const {
  const auto* a = std::get_if<Array>(&data_);
  if (type != ValueType::ARRAY || !a) mismatch(type, "ARRAY");
  return a->elem;
}

bool Value::operator==(const Value& o) const {
  if (type != o.type || data_.index() != o.data_.index()) return false;
  if (const auto* a = std::get_if<Array>(&data_)) {
    const auto& b = std::get<Array>(o.data_);
    return a->elem == b.elem && a->items == b.items;
  }
  if (const auto* s = std::get_if<std::string>(&data_)) return *s == std::get<std::string>(o.data_);
  return std::get<uint64_t>(data_) == std::get<uint64_t>(o.data_);
}

std::string Value::debug_string() const {
  constexpr size_t kMaxItems = 8, kMaxChars = 64;
  switch (type) {
    case ValueType::STRING: {
      const auto& s = as_string();
      if (s.size() <= kMaxChars) return fmt::format("\"{}\"", s);
      return fmt::format("\"{}...\" ({} bytes)", s.substr(0, kMaxChars), s.size());
    }
    case ValueType::ARRAY: {
      const auto& items = as_array();
      std::string out = fmt::format("{}[", value_type_name(array_type()));
      for (size_t i = 0; i < items.size() && i < kMaxItems; ++i) {
        out += (i ? ", " : "") + items[i].debug_string();
      }
      if (items.size() > kMaxItems) out += fmt::format(", ... ({} items)", items.size());
      return out + "]";
    }
    case ValueType::BOOL:
      return as_bool() ? "true" : "false";
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return fmt::format("{}", as_f64());
    case ValueType::UINT64:
      return fmt::format("{}", raw_bits());
    default:
      if (is_integer()) return fmt::format("{}", static_cast<int64_t>(raw_bits()));
      return "<unknown>";
  }
}

// ---- ggml types ----

namespace {
// Indexed by the raw ggml type id; block_elems == 0 marks ids that are not (or no longer) types.
// Block sizes follow ggml's block structs (e.g. Q4_K: f16 d, f16 dmin, 12 scale bytes, 128 quant
// bytes).
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {"F32", 1, 4},        {"F16", 1, 2},       {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {"", 0, 0},           {"", 0, 0},          {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},     {"Q8_1", 32, 36},    {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},  {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},       {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},        {"IQ1_M", 256, 56},  {"BF16", 1, 2},       {"", 0, 0},
    {"", 0, 0},           {"", 0, 0},          {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {"", 0, 0},           {"", 0, 0},          {"", 0, 0},           {"MXFP4", 32, 17},
};
}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t raw) {
  if (raw >= std::size(kGgmlTypes) || kGgmlTypes[raw].block_elems == 0) return nullptr;
  return &kGgmlTypes[raw];
}

std::string_view ggml_type_name(GgmlType t) {
  const auto* info = ggml_type_info(static_cast<uint32_t>(t));
  return info ? info->name : "unknown";
}

std::optional<DType> ggml_to_dtype(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return DType::F32;
    case GgmlType::F16:
      return DType::F16;
    case GgmlType::BF16:
      return DType::BF16;
    case GgmlType::Q8_0:
      return DType::Q8_0;
    case GgmlType::Q4_0:
      return DType::Q4_0;
    case GgmlType::Q4_K:
      return DType::Q4_K;
    case GgmlType::Q6_K:
      return DType::Q6_K;
    case GgmlType::I8:
      return DType::I8;
    case GgmlType::I32:
      return DType::I32;
    case GgmlType::I64:
      return DType::I64;
    default:
      return std::nullopt;
  }
}

std::optional<GgmlType> dtype_to_ggml(DType t) {
  switch (t) {
    case DType::F32:
      return GgmlType::F32;
    case DType::F16:
      return GgmlType::F16;
    case DType::BF16:
      return GgmlType::BF16;
    case DType::Q8_0:
      return GgmlType::Q8_0;
    case DType::Q4_0:
      return GgmlType::Q4_0;
    case DType::Q4_K:
      return GgmlType::Q4_K;
    case DType::Q6_K:
      return GgmlType::Q6_K;
    case DType::I8:
      return GgmlType::I8;
    case DType::I32:
      return GgmlType::I32;
    case DType::I64:
      return GgmlType::I64;
  }
  return std::nullopt;
}

// ---- File's typed getters ----

namespace {
bool is_int_type(ValueType t) {
  return t != ValueType::FLOAT32 && t != ValueType::FLOAT64 && t != ValueType::BOOL &&
         t != ValueType::STRING && t != ValueType::ARRAY;
}
}  // namespace

const Value& File::require(std::string_view key) const {
  const Value* v = find(key);
  if (!v) invalid_input("{}: metadata key '{}' missing", name_, key);
  return *v;
}

// Runs `get` on the key's value and turns a Value error ("GGUF value has type X, expected Y") into
// one that names the file and the key.
template <typename T, typename F>
T File::typed(std::string_view key, F&& get) const {
  const Value& v = require(key);
  try {
    return get(v);
  } catch (const Error& e) {
    std::string_view msg = e.what();
    constexpr std::string_view kPrefix = "GGUF value ";
    if (msg.starts_with(kPrefix)) msg.remove_prefix(kPrefix.size());
    throw Error(e.kind(), fmt::format("{}: metadata key '{}' {}", name_, key, msg));
  }
}

std::string File::get_string(std::string_view key) const {
  return typed<std::string>(key, [](const Value& v) { return v.as_string(); });
}
uint64_t File::get_u64(std::string_view key) const {
  return typed<uint64_t>(key, [](const Value& v) { return v.as_u64(); });
}
uint32_t File::get_u32(std::string_view key) const {
  return typed<uint32_t>(key, [](const Value& v) {
    const uint64_t x = v.as_u64();
    if (x > UINT32_MAX) invalid_input("GGUF value is {}, which does not fit UINT32", x);
    return static_cast<uint32_t>(x);
  });
}
int64_t File::get_i64(std::string_view key) const {
  return typed<int64_t>(key, [](const Value& v) { return v.as_i64(); });
}
double File::get_f64(std::string_view key) const {
  return typed<double>(key, [](const Value& v) { return v.as_f64(); });
}
float File::get_f32(std::string_view key) const {
  return typed<float>(key, [](const Value& v) {
    return v.type == ValueType::FLOAT32 ? v.as_f32() : static_cast<float>(v.as_f64());
  });
}
bool File::get_bool(std::string_view key) const {
  return typed<bool>(key, [](const Value& v) { return v.as_bool(); });
}
const std::vector<Value>& File::get_array(std::string_view key) const {
  return typed<const std::vector<Value>&>(
      key, [](const Value& v) -> const std::vector<Value>& { return v.as_array(); });
}

std::string File::get_string(std::string_view key, std::string def) const {
  return find(key) ? get_string(key) : def;
}
uint64_t File::get_u64(std::string_view key, uint64_t def) const {
  return find(key) ? get_u64(key) : def;
}
uint32_t File::get_u32(std::string_view key, uint32_t def) const {
  return find(key) ? get_u32(key) : def;
}
int64_t File::get_i64(std::string_view key, int64_t def) const {
  return find(key) ? get_i64(key) : def;
}
double File::get_f64(std::string_view key, double def) const {
  return find(key) ? get_f64(key) : def;
}
float File::get_f32(std::string_view key, float def) const {
  return find(key) ? get_f32(key) : def;
}
bool File::get_bool(std::string_view key, bool def) const {
  return find(key) ? get_bool(key) : def;
}

namespace {
[[noreturn]] void array_mismatch(const Value& v, std::string_view expected) {
  invalid_input("GGUF value has type ARRAY of {}, expected ARRAY of {}",
                value_type_name(v.array_type()), expected);
}
}  // namespace

std::vector<std::string> File::get_string_array(std::string_view key) const {
  return typed<std::vector<std::string>>(key, [](const Value& v) {
    const auto& items = v.as_array();
    if (v.array_type() != ValueType::STRING) array_mismatch(v, "STRING");
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const auto& x : items) out.push_back(x.as_string());
    return out;
  });
}

std::vector<int32_t> File::get_i32_array(std::string_view key) const {
  return typed<std::vector<int32_t>>(key, [](const Value& v) {
    const auto& items = v.as_array();
    if (!is_int_type(v.array_type())) array_mismatch(v, "integers");
    std::vector<int32_t> out;
    out.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const Value& x = items[i];
      const uint64_t bits = x.raw_bits();
      const bool fits = x.type == ValueType::UINT64 ? bits <= INT32_MAX
                                                    : static_cast<int64_t>(bits) >= INT32_MIN &&
                                                          static_cast<int64_t>(bits) <= INT32_MAX;
      if (!fits) {
        invalid_input("GGUF value element {} is {}, which does not fit INT32", i, x.debug_string());
      }
      out.push_back(static_cast<int32_t>(static_cast<int64_t>(bits)));
    }
    return out;
  });
}

std::vector<float> File::get_f32_array(std::string_view key) const {
  return typed<std::vector<float>>(key, [](const Value& v) {
    const auto& items = v.as_array();
    const ValueType t = v.array_type();
    if (!is_int_type(t) && t != ValueType::FLOAT32 && t != ValueType::FLOAT64) {
      array_mismatch(v, "numbers");
    }
    std::vector<float> out;
    out.reserve(items.size());
    for (const auto& x : items) {
      out.push_back(x.type == ValueType::FLOAT32 ? x.as_f32() : static_cast<float>(x.as_f64()));
    }
    return out;
  });
}

}  // namespace osprey::gguf
