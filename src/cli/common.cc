#include "cli/common.h"

#include <charconv>

#include "core/error.h"
#include "core/thread_pool.h"

namespace osprey::cli {

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string_view part(s.data() + i, j - i);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    int32_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      invalid_input("'{}' is not a comma-separated list of token ids", s);
    }
    ids.push_back(v);
    i = j + 1;
  }
  if (ids.empty()) invalid_input("empty token id list");
  return ids;
}

void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Worker threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
}

void apply_threads(int threads) { ThreadPool::set_global_threads(threads); }

}  // namespace osprey::cli
