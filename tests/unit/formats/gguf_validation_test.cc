// The GGUF reader on malformed input: one test per check, each made by writing a valid file and
// corrupting bytes. Every parse gets a buffer of exactly the file's size, so that ASan sees any
// read past the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "formats/gguf.h"

namespace osprey::gguf {
namespace {

using Bytes = std::vector<uint8_t>;

Tensor f32_tensor(Shape shape) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// Tensors at data offsets 0 (64 bytes), 64 (68 bytes, padded to 96) and 160 (32 bytes, which ends
// the file: no trailing padding, so that every truncation cuts into a tensor).
Bytes base_file() {
  Writer w;
  w.set_u32("general.alignment", 32);
  w.set_u32("test.u32", 7);
  w.set_bool("test.bool", true);
  w.set_string("test.str", "hello");
  w.set_i32_array("test.arr", {1, 2, 3});
  w.set("test.nested", Value::array(ValueType::ARRAY, {Value::i32_array({4})}));
  w.set_string("dupa.key", "x");
  w.set_string("dupb.key", "y");
  w.add_tensor("ta.w", f32_tensor({2, 8}));
  w.add_tensor("tb.w", f32_tensor({2, 32}).f32_to(DType::Q8_0));
  w.add_tensor("tc.w", f32_tensor({8}));
  return w.serialize();
}

// Index just past the first occurrence of `needle` (a key or tensor name).
size_t after(const Bytes& b, std::string_view needle) {
  const auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << needle;
  return static_cast<size_t>(it - b.begin()) + needle.size();
}

template <typename T>
void poke(Bytes& b, size_t at, T v) {
  ASSERT_LE(at + sizeof v, b.size());
  std::memcpy(b.data() + at, &v, sizeof v);
}
template <typename T>
T peek(const Bytes& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// Tensor info fields, for a tensor named `name` with `ndims` dims.
size_t ndims_at(const Bytes& b, std::string_view name) {
  return after(b, name);
}
size_t dim_at(const Bytes& b, std::string_view name, int i) {
  return after(b, name) + 4 + 8 * i;
}
size_t type_at(const Bytes& b, std::string_view name, int ndims) {
  return after(b, name) + 4 + 8 * ndims;
}
size_t offset_at(const Bytes& b, std::string_view name, int ndims) {
  return after(b, name) + 8 + 8 * ndims;
}

void parse(const Bytes& b) {
  // An exact-size heap copy: a read past the end is an ASan error, not a read of spare capacity.
  auto exact = std::make_unique<uint8_t[]>(std::max<size_t>(b.size(), 1));
  if (!b.empty()) std::memcpy(exact.get(), b.data(), b.size());
  auto f = File::from_memory(exact.get(), b.size(), "t.gguf");
  for (const auto& t : f->tensors()) {
    if (ggml_to_dtype(t.type)) f->tensor(t);
  }
}

void expect_error(const Bytes& b, ErrorKind kind, std::string_view what) {
  try {
    parse(b);
    ADD_FAILURE() << "no error, expected: " << what;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), kind) << msg;
    EXPECT_EQ(msg.rfind("t.gguf: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}
void expect_invalid(const Bytes& b, std::string_view what) {
  expect_error(b, ErrorKind::kInvalidInput, what);
}

TEST(GgufValidation, BaseFileIsValid) {
  const Bytes b = base_file();
  const auto f = File::from_memory(b.data(), b.size(), "t.gguf");
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->tensors()[2].offset + f->tensors()[2].nbytes, b.size());
  EXPECT_EQ(f->tensors()[1].offset - f->data_offset(), 64u);
}

TEST(GgufValidation, BadMagic) {
  Bytes b = base_file();
  b[0] = 'X';
  expect_invalid(b, "bad magic");
}

TEST(GgufValidation, Versions) {
  Bytes b = base_file();
  poke<uint32_t>(b, 4, 2);
  EXPECT_EQ(File::from_memory(b.data(), b.size(), "t.gguf")->version(), 2u);
  poke<uint32_t>(b, 4, 1);
  expect_error(b, ErrorKind::kUnsupported, "unsupported GGUF version 1");
  poke<uint32_t>(b, 4, 4);
  expect_error(b, ErrorKind::kUnsupported, "unsupported GGUF version 4");
  poke<uint32_t>(b, 4, 0x03000000);
  expect_error(b, ErrorKind::kUnsupported, "big-endian");
}

TEST(GgufValidation, TruncatedHeader) {
  Bytes b = base_file();
  b.resize(20);
  expect_invalid(b, "truncated header at offset 16");
  expect_invalid(Bytes{}, "truncated header");
}

TEST(GgufValidation, CountsThatCannotFit) {
  Bytes b = base_file();
  poke<uint64_t>(b, 16, uint64_t{1} << 60);
  expect_invalid(b, "n_kv 1152921504606846976 cannot fit");
  b = base_file();
  poke<uint64_t>(b, 8, ~uint64_t{0});
  expect_invalid(b, "n_tensors 18446744073709551615 cannot fit");
  // Plausible in the header, too many once the metadata is read.
  b = base_file();
  poke<uint64_t>(b, 8, 10);
  expect_invalid(b, "10 tensor infos cannot fit");
}

TEST(GgufValidation, StringLongerThanTheFile) {
  Bytes b = base_file();
  const size_t key_len_at = after(b, "test.str") - 8 - 8;
  poke<uint64_t>(b, key_len_at, uint64_t{1} << 62);
  expect_invalid(b, "metadata key length 4611686018427387904 at offset");
  expect_invalid(b, "larger than the");
  b = base_file();
  poke<uint64_t>(b, after(b, "test.str") + 4, 1000);
  expect_invalid(b, "metadata key 'test.str': string length 1000");
}

TEST(GgufValidation, TruncatedString) {
  // The last key, so that the header's counts still fit what is left.
  Bytes b = base_file();
  b.resize(after(b, "dupb.key") + 4 + 3);  // inside the value's length
  expect_invalid(b, "metadata key 'dupb.key': truncated string at offset");
  b = base_file();
  b.resize(after(b, "dupb.key") + 4 + 8);  // before the value's byte
  expect_invalid(b, "metadata key 'dupb.key': string length 1 at offset");
}

TEST(GgufValidation, ArrayLongerThanTheFile) {
  Bytes b = base_file();
  poke<uint64_t>(b, after(b, "test.arr") + 8, uint64_t{1} << 60);
  expect_invalid(b, "metadata key 'test.arr': array length 1152921504606846976 of INT32");
  b = base_file();
  poke<uint64_t>(b, after(b, "test.nested") + 20, uint64_t{1} << 61);  // the inner array
  expect_invalid(b, "array length 2305843009213693952 of INT32");
}

TEST(GgufValidation, TruncatedArray) {
  Bytes b = base_file();
  b.resize(after(b, "test.arr") + 4 + 4 + 6);  // inside the count
  expect_invalid(b, "metadata key 'test.arr': truncated array");
  b = base_file();
  b.resize(after(b, "test.arr") + 4 + 4 + 8 + 5);  // inside the second element
  expect_invalid(b, "array length 3 of INT32");
}

TEST(GgufValidation, UnknownValueType) {
  Bytes b = base_file();
  poke<uint32_t>(b, after(b, "test.u32"), 13);
  expect_invalid(b, "metadata key 'test.u32': unknown value type 13");
  b = base_file();
  poke<uint32_t>(b, after(b, "test.arr") + 4, 0xffffffff);
  expect_invalid(b, "metadata key 'test.arr': unknown value type 4294967295");
}

Bytes nested_arrays(int levels) {
  Bytes b;
  auto u32 = [&](uint32_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 4); };
  auto u64 = [&](uint64_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 8); };
  b = {'G', 'G', 'U', 'F'};
  u32(3);
  u64(0);
  u64(1);
  u64(4);
  b.insert(b.end(), {'d', 'e', 'e', 'p'});
  u32(9);  // ARRAY
  for (int i = 1; i < levels; ++i) {
    u32(9);
    u64(1);
  }
  u32(0);  // UINT8
  u64(1);
  b.push_back(7);
  return b;
}

TEST(GgufValidation, NestedArraysTooDeep) {
  const Bytes ok = nested_arrays(kMaxArrayDepth);
  const std::string deep =
      File::from_memory(ok.data(), ok.size(), "t.gguf")->find("deep")->debug_string();
  EXPECT_NE(deep.find("UINT8[7]"), std::string::npos) << deep;
  expect_invalid(nested_arrays(kMaxArrayDepth + 1),
                 "metadata key 'deep': nested arrays too deep (more than 8 levels)");
}

TEST(GgufValidation, DuplicateMetadataKey) {
  Bytes b = base_file();
  b[after(b, "dupb.key") - 5] = 'a';
  expect_invalid(b, "metadata key 'dupa.key': duplicate metadata key");
}

TEST(GgufValidation, InvalidBool) {
  Bytes b = base_file();
  poke<uint8_t>(b, after(b, "test.bool") + 4, 2);
  expect_invalid(b, "metadata key 'test.bool': invalid BOOL byte 2");
}

TEST(GgufValidation, DuplicateTensorName) {
  Bytes b = base_file();
  b[after(b, "tb.w") - 3] = 'a';
  expect_invalid(b, "tensor 'ta.w': duplicate tensor name");
}

TEST(GgufValidation, DimensionCount) {
  Bytes b = base_file();
  poke<uint32_t>(b, ndims_at(b, "ta.w"), 0);
  expect_invalid(b, "tensor 'ta.w': 0 dimensions (must be 1 to 4)");
  poke<uint32_t>(b, ndims_at(b, "ta.w"), 5);
  expect_invalid(b, "tensor 'ta.w': 5 dimensions");
}

TEST(GgufValidation, ZeroOrNegativeDim) {
  Bytes b = base_file();
  poke<int64_t>(b, dim_at(b, "ta.w", 1), 0);
  expect_invalid(b, "tensor 'ta.w': dimension 1 is 0 (must be positive)");
  poke<int64_t>(b, dim_at(b, "ta.w", 0), -8);
  expect_invalid(b, "tensor 'ta.w': dimension 0 is -8");
}

TEST(GgufValidation, ElementCountOverflow) {
  Bytes b = base_file();
  poke<int64_t>(b, dim_at(b, "ta.w", 0), int64_t{1} << 40);
  poke<int64_t>(b, dim_at(b, "ta.w", 1), int64_t{1} << 40);
  expect_invalid(b, "tensor 'ta.w': element count overflows");
  // 2^62 elements fit int64, their F32 bytes do not fit uint64.
  b = base_file();
  poke<int64_t>(b, dim_at(b, "ta.w", 0), int64_t{1} << 31);
  poke<int64_t>(b, dim_at(b, "ta.w", 1), int64_t{1} << 31);
  expect_invalid(b, "tensor 'ta.w': byte size overflows");
  // Sizes that fit but are absurd are caught by the bounds check.
  b = base_file();
  poke<int64_t>(b, dim_at(b, "ta.w", 1), int64_t{1} << 40);
  expect_invalid(b, "past the end of the file");
}

TEST(GgufValidation, RowNotAMultipleOfTheBlockSize) {
  Bytes b = base_file();
  poke<int64_t>(b, dim_at(b, "tb.w", 0), 33);
  expect_invalid(b, "tensor 'tb.w': row length 33 is not a multiple of the Q8_0 block size 32");
  b = base_file();
  poke<uint32_t>(b, type_at(b, "ta.w", 2), static_cast<uint32_t>(GgmlType::Q4_K));
  expect_invalid(b, "row length 8 is not a multiple of the Q4_K block size 256");
}

TEST(GgufValidation, UnknownGgmlType) {
  Bytes b = base_file();
  poke<uint32_t>(b, type_at(b, "ta.w", 2), 4);  // Q4_2, removed from ggml
  expect_invalid(b, "tensor 'ta.w': unknown ggml type 4");
  poke<uint32_t>(b, type_at(b, "ta.w", 2), 1000);
  expect_invalid(b, "unknown ggml type 1000");
}

TEST(GgufValidation, UnsupportedGgmlTypeParsesButHasNoView) {
  Bytes b = base_file();
  poke<uint32_t>(b, type_at(b, "tb.w", 2), static_cast<uint32_t>(GgmlType::IQ4_NL));  // 36 bytes
  const auto f = File::from_memory(b.data(), b.size(), "t.gguf");
  const auto* t = f->find_tensor("tb.w");
  EXPECT_EQ(t->nbytes, 36u);
  EXPECT_EQ(f->tensor_bytes(*t).size(), 36u);
  try {
    f->tensor(*t);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("t.gguf: tensor 'tb.w' has ggml type IQ4_NL"),
              std::string::npos)
        << e.what();
  }
}

TEST(GgufValidation, Alignment) {
  Bytes b = base_file();
  const size_t value_at = after(b, "general.alignment") + 4;
  poke<uint32_t>(b, value_at, 48);
  expect_invalid(b, "metadata key 'general.alignment': alignment 48 is not a power of two");
  poke<uint32_t>(b, value_at, 0);
  expect_invalid(b, "alignment 0 is not a power of two");
  b = base_file();
  poke<uint32_t>(b, value_at - 4, static_cast<uint32_t>(ValueType::INT32));
  expect_invalid(b, "metadata key 'general.alignment': has type INT32, expected UINT32");
}

TEST(GgufValidation, TensorOffsetNotAligned) {
  Bytes b = base_file();
  poke<uint64_t>(b, offset_at(b, "tb.w", 2), 68);
  expect_invalid(b, "tensor 'tb.w': offset 68 is not aligned to 32 bytes");
}

TEST(GgufValidation, TensorDataPastTheEnd) {
  Bytes b = base_file();
  poke<uint64_t>(b, offset_at(b, "tc.w", 1), 192);
  expect_invalid(b,
                 "tensor 'tc.w': data (32 bytes at data offset 192) is past the end of the file");
  // An offset that wraps around when added to the data section's start.
  poke<uint64_t>(b, offset_at(b, "tc.w", 1), ~uint64_t{31});
  expect_invalid(b, "tensor 'tc.w': data (32 bytes at data offset 18446744073709551584)");
}

TEST(GgufValidation, OverlappingTensors) {
  Bytes b = base_file();
  poke<uint64_t>(b, offset_at(b, "tb.w", 2), 32);
  expect_invalid(b, "tensors 'ta.w' and 'tb.w' overlap");
  b = base_file();
  poke<uint64_t>(b, offset_at(b, "tc.w", 1), 0);
  expect_invalid(b, "tensors 'ta.w' and 'tc.w' overlap");
}

TEST(GgufValidation, EveryTruncationIsAnError) {
  const Bytes full = base_file();
  for (size_t n = 0; n < full.size(); ++n) {
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      parse(b);
      ADD_FAILURE() << "truncation to " << n << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << n << ": " << e.what();
    }
  }
}

// Every byte set to a few hostile values: each parse succeeds or throws osprey::Error, nothing
// else.
TEST(GgufValidation, EveryByteCorrupted) {
  const Bytes full = base_file();
  int errors = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x80}, uint8_t(full[i] ^ 1)}) {
      Bytes b = full;
      b[i] = v;
      try {
        parse(b);
      } catch (const Error& e) {
        EXPECT_NE(e.kind(), ErrorKind::kInternal) << i << ": " << e.what();
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace osprey::gguf
