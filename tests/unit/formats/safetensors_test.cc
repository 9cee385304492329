// safetensors reading and writing, and every way a hostile or damaged file must fail: with one
// clear error naming the file and the problem, never a crash.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.h"

namespace osprey {
namespace {

std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

// Expects parsing to throw osprey::Error of `kind` whose message contains `name` and `what`.
void expect_error(const std::vector<uint8_t>& bytes, ErrorKind kind, const std::string& what) {
  try {
    safetensors::File::from_memory(bytes.data(), bytes.size(), "bad.safetensors");
    FAIL() << "no error; expected: " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(Safetensors, WritesAndReadsBack) {
  Tensor a = Tensor::zeros(DType::F32, {2, 3});
  for (int i = 0; i < 6; ++i) a.data<float>()[i] = i * 1.5f;
  Tensor b = a.f32_to(DType::BF16);
  const std::string path = ::testing::TempDir() + "/rt.safetensors";
  safetensors::write(path, {{"a", a}, {"b.weight", b}}, {{"format", "pt"}});
  auto f = safetensors::File::open(path);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const Tensor ra = f->tensor(*f->find("a"));
  EXPECT_EQ(ra.shape(), (Shape{2, 3}));
  EXPECT_EQ(ra.data<float>()[5], 7.5f);
  const Tensor rb = f->tensor(*f->find("b.weight"));
  EXPECT_EQ(rb.dtype(), DType::BF16);
  EXPECT_EQ(rb.to_f32().data<float>()[4], 6.0f);
  // Data section stays 8-byte aligned so f32 views are aligned.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ra.raw()) % 8, 0u);
}

TEST(Safetensors, RejectsShortFile) {
  expect_error({1, 2, 3}, ErrorKind::kInvalidInput, "too short");
}

TEST(Safetensors, RejectsHeaderPastEnd) {
  auto f = make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  f.resize(20);  // cut inside the header
  expect_error(f, ErrorKind::kInvalidInput, "past the end of the file");
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  std::vector<uint8_t> f(16, 0);
  const uint64_t n = uint64_t{1} << 62;
  std::memcpy(f.data(), &n, 8);
  expect_error(f, ErrorKind::kInvalidInput, "exceeds the 100 MB limit");
}

TEST(Safetensors, RejectsBadJson) {
  expect_error(make_file(R"({"a": {"dtype": "F32",)", 0), ErrorKind::kInvalidInput,
               "not valid JSON");
  expect_error(make_file(R"([1, 2])", 0), ErrorKind::kInvalidInput, "not a JSON object");
}

TEST(Safetensors, RejectsDataPastEnd) {
  // Truncated data section: the header promises 16 bytes, 8 are there.
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
               ErrorKind::kInvalidInput, "past the end of the data");
}

TEST(Safetensors, RejectsOverlappingTensors) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
               ErrorKind::kInvalidInput, "overlap");
}

TEST(Safetensors, RejectsShapeThatDisagreesWithOffsets) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               ErrorKind::kInvalidInput, "needs 12 bytes but data_offsets span 8");
}

TEST(Safetensors, RejectsOverflowingShape) {
  expect_error(
      make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                8),
      ErrorKind::kInvalidInput, "too large");
}

TEST(Safetensors, RejectsUnknownDtype) {
  expect_error(make_file(R"({"a":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}})", 1),
               ErrorKind::kUnsupported, "unsupported dtype F8_E9M9");
}

TEST(Safetensors, RejectsMalformedEntries) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               ErrorKind::kInvalidInput, "non-negative integers");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
               ErrorKind::kInvalidInput, "reversed");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), ErrorKind::kInvalidInput,
               "data_offsets");
  expect_error(make_file(R"({"a":3})", 0), ErrorKind::kInvalidInput, "not an object");
}

TEST(Safetensors, MissingFileIsAnIoError) {
  try {
    safetensors::File::open("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, EveryTruncationFailsCleanly) {
  auto f = make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  for (size_t n = 0; n < f.size(); ++n) {
    std::vector<uint8_t> cut(f.begin(), f.begin() + n);
    EXPECT_THROW(safetensors::File::from_memory(cut.data(), cut.size(), "cut"), Error) << n;
  }
  EXPECT_NO_THROW(safetensors::File::from_memory(f.data(), f.size(), "whole"));
}

}  // namespace
}  // namespace osprey
