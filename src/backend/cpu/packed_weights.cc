#include "backend/cpu/packed_weights.h"

#include <algorithm>
#include <cstring>

#include "backend/cpu/dot.h"
#include "core/error.h"
#include "core/huge_pages.h"
#include "core/thread_pool.h"

namespace osprey::cpu {

namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}

size_t elem_bytes(DType dtype) {
  return dtype == DType::F32 ? 4 : 2;
}

template <typename T>
void pack_typed(const T* src, int64_t n, int64_t k, T* dst) {
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
  ThreadPool::global().parallel_for(panels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* out = dst + p * k * kPanelRows;
      const T* in[kPanelRows];
      const int64_t rows = std::min(kPanelRows, n - p * kPanelRows);
      for (int64_t i = 0; i < rows; ++i) in[i] = src + (p * kPanelRows + i) * k;
      // Writes in order; the reads are 16 sequential streams.
      for (int64_t c = 0; c < k; ++c) {
        for (int64_t i = 0; i < rows; ++i) out[c * kPanelRows + i] = in[i][c];
        for (int64_t i = rows; i < kPanelRows; ++i) out[c * kPanelRows + i] = T{};
      }
    }
  });
}

// Block-quantized panels: for every panel, block of k and row i of the panel, fill(out, i, blk)
// writes row i's share of the block's `block_bytes` at `out`, blk nullptr for padding rows.
template <int64_t kBlockElems = 32, typename Block, typename Fill>
void pack_blocks(const Block* src, int64_t n, int64_t k, int64_t block_bytes, uint8_t* dst,
                 Fill fill) {
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows, blocks = k / kBlockElems;
  ThreadPool::global().parallel_for(panels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t rows = std::min(kPanelRows, n - p * kPanelRows);
      for (int64_t b = 0; b < blocks; ++b) {
        uint8_t* out = dst + (p * blocks + b) * block_bytes;
        for (int64_t i = 0; i < kPanelRows; ++i) {
          fill(out, i, i < rows ? src + (p * kPanelRows + i) * blocks + b : nullptr);
        }
      }
    }
  });
}

void pack_q8_0(const BlockQ8_0* src, int64_t n, int64_t k, uint8_t* dst) {
  pack_blocks(src, n, k, kQ8PanelBlockBytes, dst,
              [](uint8_t* out, int64_t i, const BlockQ8_0* blk) {
                reinterpret_cast<uint16_t*>(out)[i] = blk ? blk->d : 0;
                // Unit u (64 bytes) holds quants 4u .. 4u + 3 of the 16 rows, row i's at 4i.
                auto* units = reinterpret_cast<int8_t*>(out + kPanelRows * 2);
                for (int64_t c = 0; c < kQ8_0BlockElems; ++c) {
                  units[c / 4 * 64 + 4 * i + c % 4] = blk ? blk->qs[c] : 0;
                }
              });
}

// Quant t (0-31) of a Q4_0 block: the low nibble of byte t (t < 16), else the high one of t - 16.
uint8_t q4_0_quant(const BlockQ4_0& b, int t) {
  return t < 16 ? b.qs[t] & 0xF : b.qs[t - 16] >> 4;
}

// Row i's share of the four 64-byte units of 32 four-bit quants, quant(t) giving quant t.
template <typename Quant>
void fill_units(uint8_t* units, int64_t i, Quant quant) {
  for (int u = 0; u < 4; ++u) {
    for (int j = 0; j < 4; ++j) {
      units[64 * u + 4 * i + j] =
          static_cast<uint8_t>(quant(8 * u + j) | quant(8 * u + 4 + j) << 4);
    }
  }
}

void pack_q4_0(const BlockQ4_0* src, int64_t n, int64_t k, uint8_t* dst) {
  pack_blocks(
      src, n, k, kQ4PanelBlockBytes, dst, [](uint8_t* out, int64_t i, const BlockQ4_0* blk) {
        // Padding rows: scale 0, quants 8 (the value 0).
        reinterpret_cast<uint16_t*>(out)[i] = blk ? blk->d : 0;
        fill_units(out + kPanelRows * 2, i, [&](int t) { return blk ? q4_0_quant(*blk, t) : 8; });
      });
}

void pack_q4_k(const BlockQ4_K* src, int64_t n, int64_t k, uint8_t* dst) {
  pack_blocks<kQKBlockElems>(
      src, n, k, kQ4KPanelBlockBytes, dst, [](uint8_t* out, int64_t i, const BlockQ4_K* blk) {
        // Padding rows: all zero (scales and mins 0).
        reinterpret_cast<uint16_t*>(out)[i] = blk ? blk->d : 0;
        reinterpret_cast<uint16_t*>(out + kQ4KPanelDmin)[i] = blk ? blk->dmin : 0;
        for (int j = 0; j < 8; ++j) {
          uint8_t sc = 0, m = 0;
          if (blk) q4_k_scale_min(blk->scales, j, sc, m);
          out[kQ4KPanelScales + kPanelRows * j + i] = sc;
          out[kQ4KPanelMins + kPanelRows * j + i] = m;
          // Sub-block j: the low (j even) or high nibbles of qs[32 * (j / 2) ...].
          fill_units(out + kQ4KPanelUnits + 256 * j, i, [&](int t) {
            return blk ? (blk->qs[32 * (j / 2) + t] >> (4 * (j % 2))) & 0xF : 0;
          });
        }
      });
}

void pack_q6_k(const BlockQ6_K* src, int64_t n, int64_t k, uint8_t* dst) {
  pack_blocks<kQKBlockElems>(
      src, n, k, kQ6KPanelBlockBytes, dst, [](uint8_t* out, int64_t i, const BlockQ6_K* blk) {
        // Padding rows: all zero (d 0).
        reinterpret_cast<uint16_t*>(out)[i] = blk ? blk->d : 0;
        for (int g = 0; g < 16; ++g) {
          out[kQ6KPanelScales + kPanelRows * g + i] =
              blk ? static_cast<uint8_t>(blk->scales[g]) : 0;
        }
        for (int j = 0; j < 8; ++j) {
          // Quant t of sub-block j (half h, quarter u): a nibble of ql, two bits of qh.
          const int h = j / 4, u = j % 4;
          auto quant = [&](int t) -> int {
            if (!blk) return 0;
            const int lo = (blk->ql[64 * h + 32 * (u % 2) + t] >> (4 * (u / 2))) & 0xF;
            return lo | ((blk->qh[32 * h + t] >> (2 * u)) & 3) << 4;
          };
          uint8_t* sub = out + kQ6KPanelSubBlocks + kQ6KPanelSubBlockBytes * j;
          fill_units(sub, i, [&](int t) { return quant(t) & 0xF; });
          uint8_t* top = sub + 32 * kPanelRows / 2;
          for (int r = 0; r < 2; ++r) {
            for (int jj = 0; jj < 4; ++jj) {
              auto bits = [&](int unit, int half) { return quant(8 * unit + 4 * half + jj) >> 4; };
              top[64 * r + 4 * i + jj] =
                  static_cast<uint8_t>(bits(2 * r, 0) << 4 | bits(2 * r, 1) << 6 |
                                       bits(2 * r + 1, 0) | bits(2 * r + 1, 1) << 2);
            }
          }
        }
      });
}

}  // namespace

bool packs_to_panels(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 ||
         dtype == DType::Q8_0 || dtype == DType::Q4_0 || dtype == DType::Q4_K ||
         dtype == DType::Q6_K;
}

size_t panel_bytes(DType dtype, int64_t n, int64_t k) {
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
  if (dtype == DType::Q8_0) {
    return static_cast<size_t>(panels * (k / kQ8_0BlockElems) * kQ8PanelBlockBytes);
  }
  if (dtype == DType::Q4_0) {
    return static_cast<size_t>(panels * (k / kQ4_0BlockElems) * kQ4PanelBlockBytes);
  }
  if (dtype == DType::Q4_K || dtype == DType::Q6_K) {
    const int64_t bytes = dtype == DType::Q4_K ? kQ4KPanelBlockBytes : kQ6KPanelBlockBytes;
    return static_cast<size_t>(panels * (k / kQKBlockElems) * bytes);
  }
  return static_cast<size_t>(panels * kPanelRows * k) * elem_bytes(dtype);
}

void pack_panels(const Tensor& w, void* dst) {
  OSPREY_CHECK(w.ndim() == 2 && packs_to_panels(w.dtype()) && !w.packed(),
               "pack_panels wants a row-major float or block-quantized matrix, got {} {}",
               dtype_name(w.dtype()), shape_str(w.shape()));
  const int64_t n = w.dim(0), k = w.dim(1);
  if (w.dtype() == DType::Q8_0) {
    pack_q8_0(w.data<BlockQ8_0>(), n, k, static_cast<uint8_t*>(dst));
  } else if (w.dtype() == DType::Q4_0) {
    pack_q4_0(w.data<BlockQ4_0>(), n, k, static_cast<uint8_t*>(dst));
  } else if (w.dtype() == DType::Q4_K) {
    pack_q4_k(w.data<BlockQ4_K>(), n, k, static_cast<uint8_t*>(dst));
  } else if (w.dtype() == DType::Q6_K) {
    pack_q6_k(w.data<BlockQ6_K>(), n, k, static_cast<uint8_t*>(dst));
  } else if (w.dtype() == DType::F32) {
    pack_typed(w.data<float>(), n, k, static_cast<float*>(dst));
  } else {
    pack_typed(w.data<uint16_t>(), n, k, static_cast<uint16_t*>(dst));
  }
}

uint64_t prepare_weights(const std::vector<Tensor*>& matrices) {
  auto size_of = [](const Tensor& t) {
    OSPREY_CHECK(!t.packed(), "weights prepared twice");
    const bool panels = t.ndim() == 2 && packs_to_panels(t.dtype());
    return round_up(panels ? panel_bytes(t.dtype(), t.dim(0), t.dim(1)) : t.nbytes(), kAlign);
  };
  size_t total = 0;
  for (const Tensor* t : matrices) total += size_of(*t);
  if (total == 0) return 0;
  std::shared_ptr<void> region = allocate_huge_pages(total);
  auto* dst = static_cast<uint8_t*>(region.get());
  for (Tensor* t : matrices) {
    const Tensor old = *t;
    const size_t n = size_of(old);
    if (old.ndim() == 2 && packs_to_panels(old.dtype())) {
      pack_panels(old, dst);
      *t = Tensor::packed_view(dst, old.dtype(), old.shape(), region);
    } else {
      std::memcpy(dst, old.raw(), old.nbytes());
      *t = Tensor::view(dst, old.dtype(), old.shape(), region);
    }
    release_file_pages(old);
    dst += n;
  }
  return total;
}

}  // namespace osprey::cpu
