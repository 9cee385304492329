#include "cli/default_model.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace osprey::cli {

namespace fs = std::filesystem;

std::string default_model_path() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / ".." / ".." / "models" / kDefaultModelName);
  const fs::path cwd = fs::current_path(ec);
  if (!ec) candidates.push_back(cwd / "models" / kDefaultModelName);
  for (const fs::path& dir : candidates) {
    if (fs::is_regular_file(dir / "config.json", ec)) return dir.lexically_normal().string();
  }
  std::string looked;
  for (const fs::path& dir : candidates)
    looked += (looked.empty() ? "" : ", ") + dir.lexically_normal().string();
  fail(ErrorKind::kIo,
       "no --model given and the bundled demo model {} was not found (looked in {}); pass --model",
       kDefaultModelName, looked.empty() ? "nowhere" : looked);
}

}  // namespace osprey::cli
