#include "core/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/thread_pool.h"

namespace osprey {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}

}  // namespace

std::shared_ptr<void> allocate_huge_pages(size_t bytes) {
  const size_t len = round_up(bytes, kHugePage) + kHugePage;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fail(ErrorKind::kIo, "cannot map {} bytes for the weights: {}", len, std::strerror(errno));
  }
  auto* base = static_cast<uint8_t*>(p);
  uint8_t* aligned =
      reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(base), kHugePage));
  // Advice only: without transparent huge pages the copy still works on small pages.
  (void)::madvise(aligned, len - static_cast<size_t>(aligned - base), MADV_HUGEPAGE);
  return std::shared_ptr<void>(aligned, [base, len](void*) { ::munmap(base, len); });
}

void release_file_pages(const Tensor& t) {
  // The data stays readable (from the file or the page cache) if something touches it again.
  if (!t.file_backed() || t.raw() == nullptr) return;
  const void* p = t.raw();
  const size_t n = t.nbytes();
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = round_up(reinterpret_cast<uintptr_t>(p), page);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (e > b) (void)::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

uint64_t move_to_huge_pages(const std::vector<Tensor*>& tensors) {
  size_t total = 0;
  for (const Tensor* t : tensors) total += round_up(t->nbytes(), kAlign);
  if (total == 0) return 0;
  std::shared_ptr<void> region = allocate_huge_pages(total);
  auto* dst = static_cast<uint8_t*>(region.get());
  for (Tensor* t : tensors) {
    const size_t n = t->nbytes();
    const auto* src = static_cast<const uint8_t*>(t->raw());
    // Chunks of 1 MiB: the page faults of the new region are spread over the threads too.
    constexpr int64_t kChunk = int64_t{1} << 20;
    const int64_t chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
    ThreadPool::global().parallel_for(chunks, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const size_t off = static_cast<size_t>(c * kChunk);
        std::memcpy(dst + off, src + off, std::min<size_t>(kChunk, n - off));
      }
    });
    const Tensor old = *t;
    *t = Tensor::view(dst, t->dtype(), t->shape(), region);
    release_file_pages(old);
    dst += round_up(n, kAlign);
  }
  return total;
}

}  // namespace osprey
