// A libFuzzer stand-in for ctest: feeds a fuzz target (linked in: LLVMFuzzerTestOneInput) every
// file of its seed corpus, then deterministic random mutations of them (bit flips, hostile
// integers, truncations, insertions, duplicated chunks). Fixed seed, so a failure reproduces; a
// time budget, so the test stays fast under ASan. Every input is an exact-size heap copy, so that
// ASan reports any read past its end.
//
//   fuzz_replay_<name> <corpus dir or file>... [--mutations N] [--seconds S] [--dump K FILE]
//
// --dump writes mutation K to FILE (to reproduce a failure in a debugger or with libFuzzer) and
// exits.
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// What is running, for the crash handlers (fixed buffer: a signal handler may not allocate).
char g_current[512] = "startup";

void describe(const std::string& s) {
  std::snprintf(g_current, sizeof g_current, "%s", s.c_str());
}

void on_signal(int sig) {
  const char prefix[] = "\nfuzz replay: crashed on input: ";
  (void)!::write(2, prefix, sizeof prefix - 1);
  (void)!::write(2, g_current, std::strlen(g_current));
  (void)!::write(2, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void on_terminate() {
  std::fprintf(stderr, "\nfuzz replay: uncaught exception on input: %s\n", g_current);
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "  what(): %s\n", ex.what());
    } catch (...) {
    }
  }
  std::abort();
}

void run(const Bytes& input) {
  auto exact = std::make_unique<uint8_t[]>(input.size());
  if (!input.empty()) std::memcpy(exact.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(exact.get(), input.size());
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Values that sit on the boundaries a parser checks: lengths, counts, type tags, sizes.
constexpr uint64_t kInteresting[] = {0,
                                     1,
                                     2,
                                     3,
                                     4,
                                     8,
                                     13,
                                     31,
                                     32,
                                     33,
                                     127,
                                     128,
                                     255,
                                     256,
                                     0x7fff,
                                     0xffff,
                                     0x7fffffff,
                                     0x80000000,
                                     0xffffffff,
                                     uint64_t{1} << 32,
                                     uint64_t{1} << 40,
                                     uint64_t{1} << 60,
                                     ~uint64_t{0} >> 1,
                                     ~uint64_t{0} - 31,
                                     ~uint64_t{0}};

void mutate_once(Bytes& b, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  switch (pick(8)) {
    case 0:  // flip one bit
      if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
      break;
    case 1:  // one random byte
      if (!b.empty()) b[pick(b.size())] = static_cast<uint8_t>(rng());
      break;
    case 2:    // an interesting integer of 1, 2, 4 or 8 bytes (little-endian) over existing bytes
    case 3: {  // (twice as likely: this is what reaches the length and count checks)
      const size_t width = size_t{1} << pick(4);
      if (b.size() < width) break;
      const uint64_t v = kInteresting[pick(std::size(kInteresting))];
      std::memcpy(b.data() + pick(b.size() - width + 1), &v, width);
      break;
    }
    case 4:  // truncate
      b.resize(pick(b.size() + 1));
      break;
    case 5: {  // insert random bytes
      const size_t n = 1 + pick(16);
      Bytes ins(n);
      for (auto& x : ins) x = static_cast<uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), ins.begin(), ins.end());
      break;
    }
    case 6: {  // erase a range
      if (b.empty()) break;
      const size_t at = pick(b.size());
      const size_t n = 1 + pick(std::min<size_t>(16, b.size() - at));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 7: {  // duplicate a chunk somewhere else (repeats keys, tensor infos, array items)
      if (b.empty() || b.size() > (1u << 20)) break;
      const size_t at = pick(b.size());
      const size_t n = 1 + pick(std::min<size_t>(64, b.size() - at));
      const Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + n));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), chunk.begin(),
               chunk.end());
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(on_terminate);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_signal);

  long mutations = 4000;
  double seconds = 5.0;
  long dump_index = -1;
  std::string dump_path;
  std::vector<std::pair<std::string, Bytes>> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::atol(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--dump" && i + 2 < argc) {
      dump_index = std::atol(argv[++i]);
      dump_path = argv[++i];
    } else if (fs::is_directory(a)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(a)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // directory order is not deterministic
      for (const auto& p : files) seeds.emplace_back(p.string(), read_file(p));
    } else if (fs::is_regular_file(a)) {
      seeds.emplace_back(a, read_file(a));
    } else {
      std::fprintf(stderr, "fuzz replay: no such corpus: %s (mutating an empty input)\n",
                   a.c_str());
    }
  }
  if (seeds.empty()) seeds.emplace_back("<empty>", Bytes{});

  if (dump_index < 0) {
    for (const auto& [name, bytes] : seeds) {
      describe("seed " + name);
      run(bytes);
    }
  }

  std::mt19937_64 rng(0x05b12e7f022);
  const auto start = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < mutations; ++done) {
    if (dump_index < 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds) {
      break;
    }
    const size_t s = static_cast<size_t>(rng() % seeds.size());
    Bytes b = seeds[s].second;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) mutate_once(b, rng);
    if (done == dump_index) {
      std::ofstream(dump_path, std::ios::binary)
          .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
      std::printf("wrote mutation %ld (%zu bytes) to %s\n", done, b.size(), dump_path.c_str());
      return 0;
    }
    if (dump_index >= 0) continue;
    describe("mutation " + std::to_string(done) + " of seed " + seeds[s].first +
             " (reproduce with --dump " + std::to_string(done) + " FILE)");
    run(b);
  }
  std::printf("fuzz replay: %zu seeds, %ld mutations in %.1f s\n", seeds.size(), done,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
