// Weights in huge pages. Decoding one token streams every weight matrix once; on 4 KiB pages (a
// memory-mapped file, or the heap) that is a TLB miss every 4 KiB per stream, which costs a fifth
// of the machine's read bandwidth. Copying the matrices at load into one anonymous region the
// kernel backs with 2 MiB pages (MADV_HUGEPAGE, granted where transparent huge pages are "madvise"
// or "always") removes most of those misses.
#pragma once

#include <cstddef>
#include <memory>

#include "core/tensor.h"

namespace osprey {

// A zeroed anonymous region of at least `bytes`, starting on a huge-page boundary and advised to
// use huge pages; unmapped when the last copy of the pointer goes.
std::shared_ptr<void> allocate_huge_pages(size_t bytes);

// Drops this process's pages of a tensor that is a view into a read-only file mapping, once its
// data has been copied elsewhere (they stay in the page cache until the kernel needs the memory),
// so resident memory does not double. Does nothing for other tensors.
void release_file_pages(const Tensor& t);
// The same for `n` bytes at `p` inside a read-only file mapping.
void release_file_pages(const void* p, size_t n);

}  // namespace osprey
