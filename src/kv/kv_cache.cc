#include "kv/kv_cache.h"

#include "core/error.h"

namespace osprey {

void check_kv_dtype(DType dtype) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16) {
    invalid_input("a KV cache holds f32, f16 or bf16, not {}", dtype_name(dtype));
  }
}

DType kv_cache_dtype(std::string_view name, DType checkpoint) {
  if (name == "auto" || name.empty()) return checkpoint == DType::F32 ? DType::F32 : DType::F16;
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "bf16") return DType::BF16;
  invalid_input("--kv-cache-dtype must be auto, f32, f16 or bf16, not '{}'", name);
}

}  // namespace osprey
