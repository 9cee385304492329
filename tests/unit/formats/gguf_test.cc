// GGUF writer/reader round trips, typed getters, and real llama.cpp files. Validation of malformed
// input is in gguf_validation_test.cc.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace osprey::gguf {
namespace {

namespace fs = std::filesystem;

Tensor iota_tensor(DType dtype, Shape shape) {
  Tensor f = Tensor::zeros(DType::F32, shape);
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = 0.25f * static_cast<float>(i) - 3.0f;
  return dtype == DType::F32 ? f : f.f32_to(dtype);
}

Tensor int_tensor(DType dtype, Shape shape) {
  Tensor t = Tensor::zeros(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DType::I8) t.data<int8_t>()[i] = static_cast<int8_t>(i * 7 - 100);
    if (dtype == DType::I32) t.data<int32_t>()[i] = static_cast<int32_t>(i * 100003 - 7);
    if (dtype == DType::I64) t.data<int64_t>()[i] = (int64_t{1} << 40) * i - 5;
  }
  return t;
}

std::vector<std::pair<std::string, Value>> all_kinds_of_metadata() {
  const float nan_payload = std::bit_cast<float>(0x7fa00001u);  // a NaN with a payload
  std::vector<std::pair<std::string, Value>> m = {
      {"v.u8", Value::u8(250)},
      {"v.i8", Value::i8(-128)},
      {"v.u16", Value::u16(65535)},
      {"v.i16", Value::i16(-32768)},
      {"v.u32", Value::u32(4000000000u)},
      {"v.i32", Value::i32(-2000000000)},
      {"v.u64", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"v.i64", Value::i64(std::numeric_limits<int64_t>::min())},
      {"v.f32", Value::f32(3.14159274f)},
      {"v.f32.nan", Value::f32(nan_payload)},
      {"v.f32.negzero", Value::f32(-0.0f)},
      {"v.f64", Value::f64(-1e300)},
      {"v.f64.inf", Value::f64(std::numeric_limits<double>::infinity())},
      {"v.true", Value::boolean(true)},
      {"v.false", Value::boolean(false)},
      {"v.str", Value::string("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c")},
      {"v.str.empty", Value::string("")},
      {"v.str.nul", Value::string(std::string("a\0b", 3))},
      {"v.arr.u8", Value::array(ValueType::UINT8, {Value::u8(0), Value::u8(255)})},
      {"v.arr.i16", Value::array(ValueType::INT16, {Value::i16(-1), Value::i16(7)})},
      {"v.arr.u64", Value::array(ValueType::UINT64, {Value::u64(1), Value::u64(~0ull)})},
      {"v.arr.i64", Value::array(ValueType::INT64, {Value::i64(-9)})},
      {"v.arr.f64", Value::array(ValueType::FLOAT64, {Value::f64(0.1), Value::f64(-2.5)})},
      {"v.arr.bool", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)})},
      {"v.arr.str", Value::string_array({"<s>", "", "\xe2\x96\x81the", std::string(300, 'x')})},
      {"v.arr.i32", Value::i32_array({-1, 0, 2147483647})},
      {"v.arr.f32", Value::f32_array({1.5f, -0.0f, nan_payload})},
      {"v.arr.empty", Value::array(ValueType::STRING, {})},
      {"v.arr.nested",
       Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}), Value::string_array({"a"}),
                                       Value::array(ValueType::FLOAT32, {})})},
  };
  // The deepest nesting the format allows here.
  Value deep = Value::u8(1);
  for (int d = 0; d < kMaxArrayDepth; ++d) deep = Value::array(deep.type, {deep, deep});
  m.emplace_back("v.arr.deep", deep);
  return m;
}

TEST(Gguf, MetadataRoundTripsBitForBit) {
  Writer w;
  const auto meta = all_kinds_of_metadata();
  for (const auto& [k, v] : meta) w.set(k, v);
  const auto bytes = w.serialize();
  const auto f = File::from_memory(bytes.data(), bytes.size(), "meta.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  ASSERT_EQ(f->metadata().size(), meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, meta[i].first);  // file order kept
    EXPECT_TRUE(f->metadata()[i].second == meta[i].second) << meta[i].first;
    ASSERT_NE(f->find(meta[i].first), nullptr);
  }
  EXPECT_EQ(f->find("v.f32.nan")->raw_bits(), 0x7fa00001u);
  EXPECT_EQ(f->find("v.arr.f32")->as_array()[2].raw_bits(), 0x7fa00001u);
  EXPECT_TRUE(std::signbit(f->find("v.f32.negzero")->as_f32()));
  EXPECT_EQ(f->find("v.str.nul")->as_string(), std::string("a\0b", 3));
  EXPECT_EQ(f->find("v.arr.str")->as_array()[3].as_string(), std::string(300, 'x'));
  const auto& nested = f->find("v.arr.nested")->as_array();
  ASSERT_EQ(nested.size(), 3u);
  EXPECT_EQ(nested[1].array_type(), ValueType::STRING);
  EXPECT_EQ(nested[2].array_type(), ValueType::FLOAT32);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(Gguf, TypedGetters) {
  Writer w;
  for (const auto& [k, v] : all_kinds_of_metadata()) w.set(k, v);
  const auto bytes = w.serialize();
  const auto f = File::from_memory(bytes.data(), bytes.size(), "get.gguf");
  EXPECT_EQ(f->get_u64("v.u8"), 250u);
  EXPECT_EQ(f->get_u32("v.u32"), 4000000000u);
  EXPECT_EQ(f->get_i64("v.i8"), -128);
  EXPECT_EQ(f->get_i64("v.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get_u64("v.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_FLOAT_EQ(f->get_f32("v.f32"), 3.14159274f);
  EXPECT_DOUBLE_EQ(f->get_f64("v.f64"), -1e300);
  EXPECT_DOUBLE_EQ(f->get_f64("v.i32"), -2000000000.0);  // integers widen to double
  EXPECT_TRUE(f->get_bool("v.true"));
  EXPECT_EQ(f->get_string("v.str.empty"), "");
  EXPECT_EQ(f->get_string_array("v.arr.str").size(), 4u);
  EXPECT_EQ(f->get_i32_array("v.arr.i32"), (std::vector<int32_t>{-1, 0, 2147483647}));
  EXPECT_EQ(f->get_i32_array("v.arr.u8"), (std::vector<int32_t>{0, 255}));
  EXPECT_EQ(f->get_f32_array("v.arr.f32")[0], 1.5f);
  EXPECT_EQ(f->get_array("v.arr.nested").size(), 3u);
  // Defaults apply only to absent keys.
  EXPECT_EQ(f->get_u32("nope", 7), 7u);
  EXPECT_EQ(f->get_string("nope", "dflt"), "dflt");
  EXPECT_EQ(f->get_f32("nope", 0.5f), 0.5f);
  EXPECT_TRUE(f->get_bool("nope", true));
  EXPECT_EQ(f->get_u32("v.u32", 7), 4000000000u);

  auto expect_err = [](auto&& fn, std::string_view what) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_err([&] { f->get_string("nope"); }, "get.gguf: metadata key 'nope' missing");
  expect_err([&] { f->get_u64("v.str"); },
             "get.gguf: metadata key 'v.str' has type STRING, expected an unsigned integer");
  expect_err([&] { f->get_string("v.u32"); },
             "get.gguf: metadata key 'v.u32' has type UINT32, expected STRING");
  expect_err([&] { f->get_u64("v.i8"); }, "get.gguf: metadata key 'v.i8' is -128 (INT8)");
  expect_err([&] { f->get_u32("v.u64", 1); }, "does not fit UINT32");
  expect_err([&] { f->get_i64("v.u64"); }, "does not fit INT64");
  expect_err([&] { f->get_bool("v.u8", false); }, "has type UINT8, expected BOOL");
  expect_err([&] { f->get_array("v.u8"); }, "has type UINT8, expected ARRAY");
  expect_err([&] { f->get_string_array("v.arr.i32"); }, "ARRAY of INT32, expected ARRAY of STRING");
  expect_err([&] { f->get_i32_array("v.arr.u64"); }, "element 1 is");
  expect_err([&] { f->get_f32_array("v.arr.str"); }, "expected ARRAY of numbers");
  expect_err([&] { f->find("v.u8")->as_f32(); }, "GGUF value has type UINT8, expected FLOAT32");
}

TEST(Gguf, ValueArraysCheckTheirElementType) {
  EXPECT_THROW(Value::array(ValueType::INT32, {Value::i32(1), Value::u32(2)}), Error);
  EXPECT_THROW(Value::array(static_cast<ValueType>(13), {}), Error);
  EXPECT_EQ(Value::string_array({"a", "b"}).debug_string(), "STRING[\"a\", \"b\"]");
}

TEST(Gguf, TensorsRoundTripAsZeroCopyViews) {
  struct Case {
    std::string name;
    Tensor t;
    GgmlType type;
  };
  std::vector<Case> cases = {
      {"f32.1d", iota_tensor(DType::F32, {5}), GgmlType::F32},
      {"f16.2d", iota_tensor(DType::F16, {3, 7}), GgmlType::F16},
      {"bf16.3d", iota_tensor(DType::BF16, {2, 3, 5}), GgmlType::BF16},
      {"q8_0.2d", iota_tensor(DType::Q8_0, {3, 64}), GgmlType::Q8_0},
      {"f32.4d", iota_tensor(DType::F32, {2, 1, 3, 4}), GgmlType::F32},
      {"i8", int_tensor(DType::I8, {9}), GgmlType::I8},
      {"i32", int_tensor(DType::I32, {2, 3}), GgmlType::I32},
      {"i64", int_tensor(DType::I64, {3}), GgmlType::I64},
  };
  Writer w;
  w.set_string("general.architecture", "test");
  for (const auto& c : cases) w.add_tensor(c.name, c.t);
  const auto bytes = w.serialize();
  const auto f = File::from_memory(bytes.data(), bytes.size(), "t.gguf");
  ASSERT_EQ(f->tensors().size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const TensorInfo* ti = f->find_tensor(c.name);
    ASSERT_NE(ti, nullptr) << c.name;
    EXPECT_EQ(ti, &f->tensors()[i]);
    EXPECT_EQ(ti->shape, c.t.shape()) << c.name;
    EXPECT_EQ(ti->type, c.type);
    EXPECT_EQ(ti->nbytes, c.t.nbytes());
    EXPECT_EQ(ti->offset % 32, 0u);
    EXPECT_GE(ti->offset, f->data_offset());
    const Tensor v = f->tensor(*ti);
    EXPECT_EQ(v.dtype(), c.t.dtype());
    EXPECT_EQ(v.shape(), c.t.shape());
    EXPECT_EQ(v.raw(), bytes.data() + ti->offset);  // a view, not a copy
    EXPECT_EQ(std::memcmp(v.raw(), c.t.raw(), c.t.nbytes()), 0) << c.name;
  }
  // The raw little-endian ne[] is innermost first.
  const auto* q = f->find_tensor("q8_0.2d");
  EXPECT_EQ(f->tensor_bytes(*q).size(), 3u * 2 * 34);
}

TEST(Gguf, WriteToDiskAndViewsOutliveTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("osprey_gguf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "w.gguf").string();
  Writer w;
  w.set_u32("general.alignment", 64);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  const Tensor src = iota_tensor(DType::F32, {4, 3});
  w.add_tensor("a", src);
  w.add_tensor("b", iota_tensor(DType::Q8_0, {1, 32}));
  w.write(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Tensor view;
  {
    const auto f = File::open(path);
    EXPECT_EQ(f->name(), path);
    EXPECT_EQ(f->alignment(), 64u);
    for (const auto& t : f->tensors()) EXPECT_EQ(t.offset % 64, 0u);
    EXPECT_EQ(f->data_offset() % 64, 0u);
    view = f->tensor(*f->find_tensor("a"));
  }
  // The File is gone; the view keeps the mapping alive.
  EXPECT_EQ(std::memcmp(view.raw(), src.raw(), src.nbytes()), 0);
  // The same bytes as serialize().
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(disk, w.serialize());
  try {
    w.write((dir / "no/such/dir/x.gguf").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  try {
    File::open((dir / "missing.gguf").string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  fs::remove_all(dir);
}

TEST(Gguf, AlignmentOneCopiesMisalignedTensors) {
  Writer w;
  w.set_u32("general.alignment", 1);
  w.add_tensor("odd", int_tensor(DType::I8, {3}));
  const Tensor f32 = iota_tensor(DType::F32, {5});
  w.add_tensor("f", f32);
  const auto bytes = w.serialize();
  const auto f = File::from_memory(bytes.data(), bytes.size(), "a1.gguf");
  const Tensor v = f->tensor(*f->find_tensor("f"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.raw()) % 4, 0u);
  EXPECT_EQ(std::memcmp(v.raw(), f32.raw(), f32.nbytes()), 0);
}

TEST(Gguf, WriterRejectsWhatTheReaderWould) {
  Writer w;
  EXPECT_THROW(w.set_u64("general.alignment", 32), Error);
  EXPECT_THROW(w.set_u32("general.alignment", 48), Error);
  EXPECT_THROW(w.set_u32("general.alignment", 0), Error);
  Value deep = Value::u8(1);
  for (int d = 0; d <= kMaxArrayDepth; ++d) deep = Value::array(deep.type, {deep});
  EXPECT_THROW(w.set("deep", deep), Error);
  w.add_tensor("x", iota_tensor(DType::F32, {2}));
  EXPECT_THROW(w.add_tensor("x", iota_tensor(DType::F32, {2})), Error);
  EXPECT_THROW(w.add_tensor("five", Tensor::zeros(DType::F32, {1, 1, 1, 1, 1})), Error);
  EXPECT_THROW(w.add_tensor("scalar", Tensor::zeros(DType::F32, {})), Error);
  EXPECT_THROW(w.add_tensor("empty", Tensor::zeros(DType::F32, {0, 4})), Error);
  // Setting a key again replaces it in place.
  w.set_u32("k", 1);
  w.set_u32("j", 2);
  w.set_u32("k", 3);
  const auto bytes = w.serialize();
  const auto f = File::from_memory(bytes.data(), bytes.size(), "w.gguf");
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "k");
  EXPECT_EQ(f->get_u32("k"), 3u);
}

// ---- real files written by llama.cpp ----

TEST(GgufFixtures, QuantVectorsFromLlamaCpp) {
  const std::string dir = std::string(OSPREY_FIXTURES) + "/gguf-quants";
  std::ifstream idx(dir + "/index.json");
  ASSERT_TRUE(idx) << dir;
  const auto index = nlohmann::json::parse(idx);
  const std::string path = dir + "/quant-vectors.gguf";
  const auto f = File::open(path);
  ASSERT_EQ(index.size(), 22u);
  int q8 = 0;
  for (const auto& e : index) {
    const std::string name = e["tensor"];
    const TensorInfo* ti = f->find_tensor(name);
    ASSERT_NE(ti, nullptr) << name;
    EXPECT_EQ(ggml_type_name(ti->type), e["ggml_type"].get<std::string>()) << name;
    EXPECT_EQ(ti->shape, e["shape"].get<Shape>()) << name;
    const auto dt = ggml_to_dtype(ti->type);
    if (dt) {  // Q8_0, Q4_0, Q4_K, Q6_K (values checked against gguf-py in tests/unit/quant)
      const Tensor v = f->tensor(*ti);
      EXPECT_EQ(v.dtype(), *dt);
      EXPECT_EQ(v.shape(), ti->shape);
      const Tensor x = v.to_f32();
      double sum_sq = 0;
      for (float y : x.f32()) sum_sq += double{y} * y;
      EXPECT_TRUE(std::isfinite(sum_sq) && sum_sq > 0) << name;
      ++q8;
    } else {
      try {
        f->tensor(*ti);
        ADD_FAILURE() << name;
      } catch (const Error& err) {
        EXPECT_EQ(err.kind(), ErrorKind::kUnsupported);
        const std::string msg = err.what();
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find(name), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(ggml_type_name(ti->type))), std::string::npos) << msg;
      }
    }
  }
  EXPECT_EQ(q8, 9);  // 2 Q8_0, 2 Q4_0, 3 Q4_K (one from the Q3_K_M file), 2 Q6_K
}

TEST(GgufFixtures, LlamaCppVocabFiles) {
  const std::string dir = "/work/shared/fixtures/gguf-vocab";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  for (const char* name : {"llama-spm", "gpt-2", "phi-3", "deepseek-coder", "falcon"}) {
    const std::string path = dir + "/ggml-vocab-" + name + ".gguf";
    if (!fs::exists(path)) continue;
    SCOPED_TRACE(path);
    const auto f = File::open(path);
    EXPECT_EQ(f->version(), 3u);
    const auto tokens = f->get_string_array("tokenizer.ggml.tokens");
    EXPECT_GT(tokens.size(), 1000u);
    EXPECT_FALSE(f->get_string("tokenizer.ggml.model").empty());
    EXPECT_FALSE(f->get_string("general.architecture").empty());
    if (f->find("tokenizer.ggml.token_type")) {
      EXPECT_EQ(f->get_i32_array("tokenizer.ggml.token_type").size(), tokens.size());
    }
  }
}

// The fuzz seed corpus must stay parseable. OSPREY_WRITE_FUZZ_CORPUS=1 regenerates it.
TEST(GgufFixtures, FuzzSeedCorpus) {
  const fs::path dir = fs::path(OSPREY_FIXTURES) / "fuzz-corpus" / "gguf";
  if (std::getenv("OSPREY_WRITE_FUZZ_CORPUS")) {
    fs::create_directories(dir);
    auto save = [&](const std::string& name, const Writer& w) {
      const auto bytes = w.serialize();
      std::ofstream(dir / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    };
    Writer meta;
    for (const auto& [k, v] : all_kinds_of_metadata()) meta.set(k, v);
    save("metadata.gguf", meta);
    Writer tensors;
    tensors.set_string("general.architecture", "llama");
    tensors.set_u32("llama.block_count", 1);
    tensors.add_tensor("token_embd.weight", iota_tensor(DType::F16, {8, 4}));
    tensors.add_tensor("blk.0.attn_q.weight", iota_tensor(DType::Q8_0, {2, 32}));
    tensors.add_tensor("output_norm.weight", iota_tensor(DType::BF16, {4}));
    tensors.add_tensor("rope_freqs", iota_tensor(DType::F32, {2}));
    save("tensors.gguf", tensors);
    Writer vocab;
    vocab.set_u32("general.alignment", 8);
    vocab.set_string("tokenizer.ggml.model", "gpt2");
    vocab.set_string_array("tokenizer.ggml.tokens", {"a", "b", "ab", "<s>"});
    vocab.set_f32_array("tokenizer.ggml.scores", {0.f, -1.f, -2.f, 0.f});
    vocab.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1, 3});
    vocab.set_string_array("tokenizer.ggml.merges", {"a b"});
    vocab.add_tensor("i32", int_tensor(DType::I32, {3}));
    save("vocab.gguf", vocab);
    save("empty.gguf", Writer());
  }
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_LT(entry.file_size(), 10000u) << entry.path();
    EXPECT_NO_THROW(File::open(entry.path().string())) << entry.path();
    ++n;
  }
  EXPECT_GE(n, 3);
}

}  // namespace
}  // namespace osprey::gguf
