// Weights in huge pages. Decoding one token streams every weight matrix once; on 4 KiB pages (a
// memory-mapped file, or the heap) that is a TLB miss every 4 KiB per stream, which costs a fifth
// of the machine's read bandwidth. Copying the matrices at load into one anonymous region the
// kernel backs with 2 MiB pages (MADV_HUGEPAGE, granted where transparent huge pages are "madvise"
// or "always") removes most of those misses.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace osprey {

// Replaces each tensor with a copy of it in one new region of huge pages (64-byte aligned each),
// copying in parallel on the global thread pool. The region lives as long as any of the tensors.
// Where the tensor was a view into a mapped file, those file pages are released from this process
// (they stay in the page cache until the kernel needs the memory), so resident memory does not
// double. Returns the bytes copied.
uint64_t move_to_huge_pages(const std::vector<Tensor*>& tensors);

}  // namespace osprey
