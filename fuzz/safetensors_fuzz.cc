// libFuzzer target for the safetensors reader: parse, then read every tensor's bytes (converted to
// f32) so that an offset or size that slipped through validation shows up under ASan. Only
// osprey::Error is an acceptable outcome for bad input.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = osprey::safetensors::File::from_memory(data, size, "fuzz.safetensors");
    volatile float sink = 0;
    for (const auto& info : f->tensors()) {
      const osprey::Tensor t = f->tensor(info);
      if (t.numel() > (int64_t{1} << 20)) continue;  // keep each input fast
      const osprey::Tensor x = t.to_f32();
      for (int64_t i = 0; i < x.numel(); ++i) sink = sink + x.data<float>()[i];
    }
  } catch (const osprey::Error&) {
  }
  return 0;
}
