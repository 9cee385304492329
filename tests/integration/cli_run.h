// Runs the `osprey` binary under test as a user would, from a shell command line, and captures its
// exit code, stdout and stderr. Shared by the integration tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace osprey::testing {

struct CliResult {
  int code = -1;    // the exit code, or -1 when killed by a signal
  std::string out;  // stdout
  std::string err;  // stderr
};

// `args` follows the binary on a shell command line (redirections allowed). ctest may run tests of
// this binary in parallel processes: the stderr file is named by process and call.
inline CliResult run_cli(const std::string& args) {
  static std::atomic<int> calls{0};
  const std::string err_file = ::testing::TempDir() + "/osprey-stderr-" + std::to_string(getpid()) +
                               "-" + std::to_string(calls++) + ".txt";
  const std::string cmd = std::string(OSPREY_BINARY) + " " + args + " 2>" + err_file;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  std::error_code ec;
  std::filesystem::remove(err_file, ec);
  return r;
}

}  // namespace osprey::testing
