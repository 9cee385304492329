#include "core/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "core/error.h"

namespace osprey {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}

}  // namespace

std::shared_ptr<void> allocate_huge_pages(size_t bytes) {
  const size_t len = round_up(bytes, kHugePage) + kHugePage;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fail(ErrorKind::kIo, "cannot map {} bytes of memory: {}", len, std::strerror(errno));
  }
  auto* base = static_cast<uint8_t*>(p);
  uint8_t* aligned =
      reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(base), kHugePage));
  // Advice only: without transparent huge pages the copy still works on small pages.
  (void)::madvise(aligned, len - static_cast<size_t>(aligned - base), MADV_HUGEPAGE);
  return std::shared_ptr<void>(aligned, [base, len](void*) { ::munmap(base, len); });
}

void release_file_pages(const Tensor& t) {
  if (t.file_backed()) release_file_pages(t.raw(), t.nbytes());
}

void release_file_pages(const void* p, size_t n) {
  // The data stays readable (from the file or the page cache) if something touches it again.
  if (p == nullptr) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = round_up(reinterpret_cast<uintptr_t>(p), page);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (e > b) (void)::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace osprey
