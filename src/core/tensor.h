// Tensor: a dtype and a shape over storage that is either owned (heap, 64-byte aligned) or borrowed
// (a view into a memory-mapped file, kept alive by a shared handle). Weights loaded from disk are
// views; activations are owned. Tensors are dense row-major (every kernel here wants that layout; a
// strided view would only move the copy elsewhere); quantized tensors hold whole blocks along the
// last dimension.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace osprey {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  // Owned, zero-initialized, contiguous.
  static Tensor zeros(DType dtype, Shape shape);
  // A contiguous view of `data`; `keepalive` owns whatever `data` lives in (may be null for
  // borrowed memory whose lifetime the caller guarantees).
  static Tensor view(const void* data, DType dtype, Shape shape,
                     std::shared_ptr<const void> keepalive);
  // A view into a read-only file mapping (safetensors, GGUF): the same, marked so that whoever
  // copies the data elsewhere may release those pages (cpu::prepare_weights).
  static Tensor file_view(const void* data, DType dtype, Shape shape,
                          std::shared_ptr<const void> keepalive);
  bool file_backed() const { return file_backed_; }
  // A matrix whose elements a backend has rearranged for its kernels (e.g. the CPU backend's
  // panels of rows, backend/cpu/packed_weights.h); `data` may be larger than nbytes(). Only that
  // backend's matmul reads it: row(), reshape() and the conversions refuse it.
  static Tensor packed_view(const void* data, DType dtype, Shape shape,
                            std::shared_ptr<const void> keepalive);
  bool packed() const { return packed_; }

  bool defined() const { return data_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return dtype_bytes(dtype_, numel()); }

  template <typename T>
  T* data() {
    return static_cast<T*>(const_cast<void*>(data_));
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  const void* raw() const { return data_; }

  // Row `i` of a 2-D tensor (or the first dimension of any tensor) as a view.
  Tensor row(int64_t i) const;
  // Same storage, new shape (element count must match; tensor must be contiguous).
  Tensor reshape(Shape shape) const;
  // A contiguous f32 copy (dequantizing or widening as needed).
  Tensor to_f32() const;
  // A contiguous copy in `dtype` (from F32 only; quantizes as needed).
  Tensor f32_to(DType dtype) const;

  std::span<float> f32() { return {data<float>(), static_cast<size_t>(numel())}; }
  std::span<const float> f32() const { return {data<float>(), static_cast<size_t>(numel())}; }

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  const void* data_ = nullptr;
  std::shared_ptr<const void> storage_;
  bool file_backed_ = false;
  bool packed_ = false;
};

// Converts `n` elements of `src` (any dtype) to f32 in `dst`.
void convert_to_f32(DType dtype, const void* src, float* dst, int64_t n);

}  // namespace osprey
