// `osprey bench serve` and `osprey bench sweep` against a real `osprey serve` (a tiny random model,
// token-id prompts, a few seconds), and `osprey bench latency --json`: the documented interfaces
// (flags, the vLLM-named JSON fields) end to end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using Result = osprey::testing::CliResult;
const auto osprey = osprey::testing::run_cli;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// `osprey serve` on a free port; the URL comes from the line it prints once listening.
class Server {
 public:
  explicit Server(const std::string& model) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDERR_FILENO);
      close(fds[0]);
      const std::string bin = OSPREY_BINARY;
      execl(bin.c_str(), bin.c_str(), "serve", "--model", model.c_str(), "--port", "0", "--threads",
            "2", "--served-model-name", "tiny", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      const ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      const size_t at = out.find("on http://");
      const size_t end = at == std::string::npos ? at : out.find(' ', at + 3);
      if (end != std::string::npos) {
        url_ = out.substr(at + 3, end - at - 3);
        break;
      }
    }
    close(fds[0]);
  }
  ~Server() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

class BenchServe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: ctest runs each test case as its own process, several at once.
    dir_ =
        new std::string(::testing::TempDir() + "/osprey-bench-serve-" + std::to_string(getpid()));
    fs::remove_all(*dir_);
    const Result m =
        osprey("random-model --preset tiny --dtype f32 --seed 1 --output " + *dir_ + "/model");
    ASSERT_EQ(m.code, 0) << m.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* BenchServe::dir_ = nullptr;

TEST_F(BenchServe, MeasuresOspreyServe) {
  Server server(*dir_ + "/model");
  ASSERT_FALSE(server.url().empty()) << "osprey serve did not start";
  const std::string out = *dir_ + "/result.json", svg = *dir_ + "/result.svg";
  // No tokenizer in the model: prompts are token ids and text is empty, so --logprobs 1 makes the
  // server stream a chunk per token.
  const Result r =
      osprey("bench serve --base-url " + server.url() +
             " --model tiny --num-prompts 12 --input-len 16 --output-len 8 --vocab-size 512"
             " --max-concurrency 4 --ignore-eos --logprobs 1 --warmup 2 --seed 3"
             " --slo ttft=60000,tpot=60000 --no-progress --output " +
             out + " --plot " + svg);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Successful requests:"), std::string::npos);
  EXPECT_NE(r.out.find("P99 TTFT (ms):"), std::string::npos);
  const json j = read_json(out);
  // vLLM's field names, which comparison scripts read.
  for (const char* k : {"completed",
                        "duration",
                        "total_input_tokens",
                        "total_output_tokens",
                        "request_throughput",
                        "request_goodput",
                        "output_throughput",
                        "total_token_throughput",
                        "mean_ttft_ms",
                        "median_ttft_ms",
                        "std_ttft_ms",
                        "p99_ttft_ms",
                        "mean_tpot_ms",
                        "median_tpot_ms",
                        "p99_tpot_ms",
                        "mean_itl_ms",
                        "median_itl_ms",
                        "p99_itl_ms",
                        "mean_e2el_ms",
                        "median_e2el_ms",
                        "p99_e2el_ms",
                        "input_lens",
                        "output_lens",
                        "ttfts",
                        "itls",
                        "generated_texts",
                        "errors",
                        "max_concurrency",
                        "request_rate"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(j["completed"], 12);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["num_prompts"], 12);
  EXPECT_EQ(j["token_count_source"], "usage");
  EXPECT_EQ(j["total_output_tokens"], 12 * 8);
  EXPECT_EQ(j["total_input_tokens"], 12 * 16);  // the server's usage: token-id prompts get no BOS
  EXPECT_EQ(j["request_rate"], "inf");
  EXPECT_EQ(j["max_concurrency"], 4);
  EXPECT_LE(j["max_concurrent_requests"].get<int>(), 4);
  const double duration = j["duration"];
  EXPECT_GT(duration, 0);
  EXPECT_NEAR(j["output_throughput"].get<double>(), 96 / duration, 1e-6);
  EXPECT_NEAR(j["request_throughput"].get<double>(), 12 / duration, 1e-6);
  EXPECT_DOUBLE_EQ(j["request_goodput"].get<double>(), j["request_throughput"].get<double>());
  EXPECT_GT(j["mean_ttft_ms"].get<double>(), 0);
  EXPECT_LE(j["median_ttft_ms"].get<double>(), j["p99_ttft_ms"].get<double>());
  EXPECT_LE(j["p99_ttft_ms"].get<double>(), j["max_ttft_ms"].get<double>() + 1e-9);
  EXPECT_GT(j["mean_tpot_ms"].get<double>(), 0);
  EXPECT_LT(j["mean_ttft_ms"].get<double>(), j["mean_e2el_ms"].get<double>());
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(j["input_lens"][i], 16);
    EXPECT_EQ(j["output_lens"][i], 8);
    EXPECT_EQ(j["errors"][i], "");
    const double ttft = j["ttfts"][i], e2el = j["e2els"][i];
    EXPECT_GT(ttft, 0);
    EXPECT_LE(ttft, e2el);
    // A chunk per token at most: 8 tokens, at most 7 gaps, and the gaps fit inside the stream.
    const auto& itl = j["itls"][i];
    EXPECT_GE(itl.size(), 1u);
    EXPECT_LE(itl.size(), 7u);
    double sum = 0;
    for (double g : itl) sum += g;
    EXPECT_LE(sum, e2el - ttft + 1e-6);
  }
  std::ifstream in(svg);
  const std::string s((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(s.rfind("<svg", 0), 0u);
  EXPECT_NE(s.find("Time to first token CDF"), std::string::npos);
}

// Without --logprobs: osprey serve streams token ids for a model without a tokenizer.
TEST_F(BenchServe, SweepOverConcurrencies) {
  Server server(*dir_ + "/model");
  ASSERT_FALSE(server.url().empty());
  const std::string out = *dir_ + "/sweep.json";
  const Result r =
      osprey("bench sweep --base-url " + server.url() +
             " --model tiny --num-prompts 4 --input-len 8 --output-len 4 --vocab-size 512"
             " --ignore-eos --concurrencies 1,4 --no-progress --output " +
             out + " --plot " + *dir_ + "/sweep.svg");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("concurrency"), std::string::npos);
  const json j = read_json(out);
  EXPECT_EQ(j["sweep"], "max_concurrency");
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& level : j["results"]) {
    EXPECT_EQ(level["completed"], 4);
    EXPECT_EQ(level["total_output_tokens"], 16);
    // No logprobs asked: the server's streamed token ids are the output chunks.
    for (const auto& itl : level["itls"]) EXPECT_GE(itl.size(), 1u);
  }
  EXPECT_EQ(j["results"][0]["max_concurrent_requests"], 1);
  EXPECT_TRUE(fs::exists(*dir_ + "/sweep.svg"));
}

TEST_F(BenchServe, ClearErrors) {
  Result r = osprey("bench serve --base-url https://127.0.0.1:1 --model x --num-prompts 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("https is not supported"), std::string::npos) << r.err;
  // Nobody listens on port 1: every request fails as a connection error, counted, exit code 1.
  r = osprey(
      "bench serve --base-url http://127.0.0.1:1 --model x --num-prompts 3 --input-len 4 "
      "--no-progress");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.out.find("connection:"), std::string::npos) << r.out;
  r = osprey("bench sweep --base-url http://127.0.0.1:1 --model x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--request-rates or --concurrencies"), std::string::npos) << r.err;
  r = osprey("bench serve --base-url http://127.0.0.1:1 --model x --slo ttft=fast");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--slo"), std::string::npos) << r.err;
}

TEST_F(BenchServe, LatencyJson) {
  const Result r = osprey("bench latency --model " + *dir_ +
                          "/model --input-len 16 --output-len 4 --batch-size 2 "
                          "--threads 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0);
}

}  // namespace
