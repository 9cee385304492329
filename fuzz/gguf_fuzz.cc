// libFuzzer target for the GGUF reader: parse, then touch every metadata value, getter and tensor
// so that a bad length or offset that slipped through validation shows up as an ASan/UBSan report.
// Only osprey::Error is an acceptable outcome for bad input; any other exception escapes and is a
// finding.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/gguf.h"

namespace {

using osprey::gguf::Value;
using osprey::gguf::ValueType;

uint64_t touch(const Value& v) {
  if (v.type == ValueType::STRING) {
    const auto& s = v.as_string();
    return s.size() + (s.empty() ? 0 : static_cast<uint8_t>(s.back()));
  }
  if (v.type == ValueType::ARRAY) {
    uint64_t h = static_cast<uint64_t>(v.array_type());
    for (const auto& item : v.as_array()) h = h * 31 + touch(item);
    return h;
  }
  return v.raw_bits();
}

template <typename F>
void expect_error_or_value(F&& f) {
  try {
    f();
  } catch (const osprey::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<osprey::gguf::File> f;
  try {
    f = osprey::gguf::File::from_memory(data, size, "fuzz.gguf");
  } catch (const osprey::Error&) {
    return 0;
  }
  volatile uint64_t sink = 0;
  for (const auto& kv : f->metadata()) {
    const std::string& key = kv.first;  // not a structured binding: clang 14 cannot capture those
    const Value& v = kv.second;
    sink = sink + touch(v) + (f->find(key) == &v);
    (void)v.debug_string();
    // Every typed getter on every key: each either converts or throws osprey::Error.
    expect_error_or_value([&] { sink = sink + f->get_u64(key); });
    expect_error_or_value([&] { sink = sink + f->get_u32(key); });
    expect_error_or_value([&] { sink = sink + static_cast<uint64_t>(f->get_i64(key)); });
    expect_error_or_value([&] { sink = sink + (f->get_f64(key) > 0); });
    expect_error_or_value([&] { sink = sink + (f->get_f32(key) > 0); });
    expect_error_or_value([&] { sink = sink + f->get_bool(key); });
    expect_error_or_value([&] { sink = sink + f->get_string(key).size(); });
    expect_error_or_value([&] { sink = sink + f->get_string_array(key).size(); });
    expect_error_or_value([&] { sink = sink + f->get_i32_array(key).size(); });
    expect_error_or_value([&] { sink = sink + f->get_f32_array(key).size(); });
  }
  for (const auto& t : f->tensors()) {
    // Read every byte, so that ASan checks the whole claimed extent.
    for (uint8_t b : f->tensor_bytes(t)) sink = sink + b;
    expect_error_or_value([&] {
      const osprey::Tensor view = f->tensor(t);
      if (view.numel() <= (1 << 16)) sink = sink + (view.to_f32().f32()[0] > 0);
    });
    sink = sink + (f->find_tensor(t.name) == &t);
  }
  return 0;
}
