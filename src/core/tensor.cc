#include "core/tensor.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace osprey {

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  for (int64_t d : shape) OSPREY_CHECK(d >= 0, "negative dimension in {}", shape_str(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  const size_t bytes = t.nbytes();
  // 64-byte alignment so that kernels may use aligned vector loads on activations.
  const size_t alloc = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, alloc == 0 ? 64 : alloc);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, alloc == 0 ? 64 : alloc);
  t.storage_ = std::shared_ptr<void>(p, std::free);
  t.data_ = p;
  return t;
}

Tensor Tensor::view(const void* data, DType dtype, Shape shape,
                    std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.storage_ = std::move(keepalive);
  return t;
}

Tensor Tensor::file_view(const void* data, DType dtype, Shape shape,
                         std::shared_ptr<const void> keepalive) {
  Tensor t = view(data, dtype, std::move(shape), std::move(keepalive));
  t.file_backed_ = true;
  return t;
}

Tensor Tensor::packed_view(const void* data, DType dtype, Shape shape,
                           std::shared_ptr<const void> keepalive) {
  Tensor t = view(data, dtype, std::move(shape), std::move(keepalive));
  t.packed_ = true;
  return t;
}

Tensor Tensor::row(int64_t i) const {
  OSPREY_CHECK(!packed_, "cannot take a row of a packed tensor");
  OSPREY_CHECK(ndim() >= 1 && i >= 0 && i < shape_[0], "row {} of tensor {}", i, shape_str(shape_));
  Shape rest(shape_.begin() + 1, shape_.end());
  const size_t row_bytes = dtype_bytes(dtype_, shape_numel(rest));
  Tensor t = *this;
  t.shape_ = std::move(rest);
  t.data_ = static_cast<const char*>(data_) + i * row_bytes;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  OSPREY_CHECK(!packed_, "cannot reshape a packed tensor");
  OSPREY_CHECK(shape_numel(shape) == numel(), "cannot reshape {} to {}", shape_str(shape_),
               shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

namespace {

// Elements are read with memcpy: a view into a file need not be aligned for its element type.
template <typename T>
T load(const void* base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + i * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

void convert_to_f32(DType dtype, const void* src, float* dst, int64_t n) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load<uint16_t>(src, i));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<uint16_t>(src, i));
      return;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      dequantize_row(dtype, src, dst, n);
      return;
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) dst[i] = load<int8_t>(src, i);
      return;
    case DType::I32:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<int32_t>(src, i));
      return;
    case DType::I64:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<int64_t>(src, i));
      return;
  }
  fail(ErrorKind::kInternal, "convert_to_f32: unknown dtype");
}

Tensor Tensor::to_f32() const {
  OSPREY_CHECK(!packed_, "cannot convert a packed tensor");
  Tensor out = zeros(DType::F32, shape_);
  convert_to_f32(dtype_, data_, out.data<float>(), numel());
  return out;
}

Tensor Tensor::f32_to(DType dtype) const {
  OSPREY_CHECK(dtype_ == DType::F32, "f32_to needs an F32 tensor, got {}", dtype_name(dtype_));
  Tensor out = zeros(dtype, shape_);
  const float* s = data<float>();
  const int64_t n = numel();
  switch (dtype) {
    case DType::F32:
      std::memcpy(out.data<float>(), s, n * 4);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_f16(s[i]);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_bf16(s[i]);
      break;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      quantize_row(dtype, s, out.data<uint8_t>(), n);
      break;
    default:
      unsupported("conversion from F32 to {}", dtype_name(dtype));
  }
  return out;
}

}  // namespace osprey
