// bench serve against a scripted server (fake_server.h): what it measures equals what the server
// was told to do, within timer resolution, and every kind of failure is counted, not fatal.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench/arrival.h"
#include "bench/serve_bench.h"
#include "bench/serve_report.h"
#include "bench/stats.h"
#include "bench/sweep.h"
#include "core/error.h"
#include "fake_server.h"

namespace osprey::bench {
namespace {

using test::FakeServer;
using test::Script;

// Scheduling and loopback add a little to every scripted delay; sanitizer builds more.
constexpr double kTol = 0.008;  // seconds

// Timing checks. Each compares a measured time with the one the server (or the schedule) produced,
// within `tol`. On a machine busy with other work (CI builds next door, tests run in parallel) a
// thread may wake late now and then, so a few samples may miss `tol`: a run passes when every
// sample is within 4 x tol and at most a fifth of them beyond tol. A measurement error misses on
// every sample; noise does not.
struct Near {
  int checks = 0;
  std::string far, off;  // beyond 4 x tol; beyond tol
  int num_off = 0;
  void operator()(const std::string& what, double got, double want, double tol) {
    ++checks;
    const double d = std::abs(got - want);
    const std::string msg = what + ": got " + std::to_string(got) + ", want " +
                            std::to_string(want) + " +- " + std::to_string(tol) + "\n";
    if (!(d <= 4 * tol)) {
      far += msg;
    } else if (d > tol) {
      off += msg;
      ++num_off;
    }
  }
  bool ok() const { return far.empty() && num_off * 5 <= checks; }
};

// A run that still fails is repeated, up to three times in all.
template <typename F>
void timed(F attempt) {
  std::string why;
  for (int i = 0; i < 3; ++i) {
    Near near;
    attempt(near);
    if (near.ok()) return;
    why = near.far + near.off;
  }
  ADD_FAILURE() << "timings off in three runs; the last:\n" << why;
}

ServeOptions options(const FakeServer& s, int num_prompts) {
  ServeOptions o;
  o.base_url = s.url();
  o.model = "fake";
  o.progress = false;
  o.workload.num_prompts = num_prompts;
  o.workload.input_len = 4;
  o.workload.output_len = 8;
  return o;
}

ServeResult run(const ServeOptions& o) {
  return run_serve(o, make_workload(o.workload, nullptr), nullptr);
}

TEST(ServeBench, MeasuresTheScriptedTimings) {
  // Scripted: TTFT 40 ms, then 5 more tokens 20 ms apart: E2EL 140 ms, TPOT (140 - 40) / 5 = 20 ms.
  // Compared with the times the server actually wrote them (test::Trace).
  FakeServer server([](int, const std::string&) { return test::token_stream(40, 20, 6); });
  ServeOptions o = options(server, 3);
  o.max_concurrency = 1;
  timed([&](Near& near) {
    const int base = server.requests();
    const ServeResult r = run(o);
    ASSERT_EQ(r.completed, 3);
    EXPECT_EQ(r.failed, 0);
    EXPECT_EQ(r.token_count_source, "usage");
    EXPECT_EQ(r.total_output_tokens, 18);
    EXPECT_EQ(r.total_input_tokens, 21);  // usage's prompt_tokens (7) replaces the workload's 4
    const auto traces = server.traces();
    std::vector<double> ttfts, itls, tpots, e2els;
    for (size_t i = 0; i < 3; ++i) {
      const auto& rec = r.records[i];
      const test::Trace& tr = traces.at(static_cast<size_t>(base) + i);
      ASSERT_EQ(tr.writes.size(), 8u);  // 6 tokens, usage, [DONE]
      const double ttft = test::seconds(tr.writes[0] - tr.read);
      const double e2el = test::seconds(tr.writes.back() - tr.read);
      EXPECT_GE(ttft, 0.040 - 0.0005);  // the server kept to the script (never early)
      EXPECT_GE(e2el, 0.140 - 0.0005);
      near("ttft", rec.ttft, ttft, kTol);
      near("e2el", rec.latency, e2el, kTol);
      near("tpot", rec.tpot, (e2el - ttft) / 5, kTol / 5);
      ASSERT_EQ(rec.itl.size(), 5u);
      for (size_t k = 0; k < 5; ++k) {
        near("itl", rec.itl[k], test::seconds(tr.writes[k + 1] - tr.writes[k]), kTol);
        itls.push_back(test::seconds(tr.writes[k + 1] - tr.writes[k]));
      }
      EXPECT_EQ(rec.text, "tttttt");
      ttfts.push_back(ttft);
      e2els.push_back(e2el);
      tpots.push_back((e2el - ttft) / 5);
    }
    near("median ttft", r.ttft.median, percentile(ttfts, 50), kTol);
    near("p99 itl", r.itl.p99, percentile(itls, 99), kTol);
    near("mean tpot", r.tpot.mean, summarize(tpots).mean, kTol / 5);
    near("max e2el", r.e2el.max, summarize(e2els).max, kTol);
    // One at a time: the run takes the three streams back to back.
    EXPECT_GE(r.duration, 0.420 - 0.001);
    near("duration", r.duration, e2els[0] + e2els[1] + e2els[2], 3 * kTol);
    EXPECT_NEAR(r.request_throughput, 3 / r.duration, 1e-9);
    EXPECT_NEAR(r.output_throughput, 18 / r.duration, 1e-9);
    EXPECT_EQ(r.max_concurrent_requests, 1);
  });
  // The request asked for a stream with usage, the workload's max_tokens and token-id prompt.
  const auto body = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["max_tokens"], 8);
  EXPECT_EQ(body["model"], "fake");
  EXPECT_EQ(body["prompt"].size(), 4u);
}

TEST(ServeBench, PercentilesOfScriptedTtfts) {
  // Request i waits 20 + 3i ms for its first token: the TTFT sample is {20, 23, ..., 47} ms, and
  // numpy.percentile of it at [50, 90, 99] is [33.5, 44.3, 46.73].
  FakeServer server(
      [](int i, const std::string&) { return test::token_stream(20 + 3 * (i % 10), 5, 2); });
  ServeOptions o = options(server, 10);
  o.max_concurrency = 1;
  timed([&](Near& near) {
    const int base = server.requests();
    const ServeResult r = run(o);
    ASSERT_EQ(r.completed, 10);
    const auto traces = server.traces();
    std::vector<double> served;  // the TTFTs as the server wrote them
    for (size_t i = 0; i < 10; ++i) {
      const test::Trace& tr = traces.at(static_cast<size_t>(base) + i);
      served.push_back(test::seconds(tr.writes.at(0) - tr.read));
      EXPECT_GE(served.back(), 0.020 + 0.003 * static_cast<double>(i) - 0.0005);
      near("ttft " + std::to_string(i), r.records[i].ttft, served.back(), kTol);
    }
    near("median", r.ttft.median, percentile(served, 50), kTol);
    near("p90", r.ttft.p90, percentile(served, 90), kTol);
    near("p99", r.ttft.p99, percentile(served, 99), kTol);
    near("max", r.ttft.max, summarize(served).max, kTol);
    near("mean", r.ttft.mean, summarize(served).mean, kTol);
    // And the script itself, on a machine quiet enough to keep it.
    near("median (script)", r.ttft.median, 0.0335, 2 * kTol);
    near("p90 (script)", r.ttft.p90, 0.0443, 2 * kTol);
    near("p99 (script)", r.ttft.p99, 0.04673, 2 * kTol);
  });
}

TEST(ServeBench, ConcurrencyLimitAndUnlimitedStreams) {
  // 8 streams of ~60 ms each: two at a time take four rounds; unlimited, one round.
  FakeServer server([](int, const std::string&) { return test::token_stream(30, 10, 4); });
  ServeOptions o = options(server, 8);
  timed([&](Near& near) {
    o.max_concurrency = 2;
    ServeResult r = run(o);
    ASSERT_EQ(r.completed, 8);
    EXPECT_EQ(r.max_concurrent_requests, 2);
    EXPECT_GE(r.duration, 4 * 0.060 - 0.001);
    near("duration, 2 at a time", r.duration, 4 * 0.060, 6 * kTol);
    o.max_concurrency = 0;
    r = run(o);
    ASSERT_EQ(r.completed, 8);
    EXPECT_EQ(r.max_concurrent_requests, 8);
    EXPECT_GE(r.duration, 0.060 - 0.001);
    near("duration, unlimited", r.duration, 0.060, 3 * kTol);
  });
}

TEST(ServeBench, RequestRateSpacesTheSends) {
  FakeServer server([](int, const std::string&) { return test::token_stream(1, 1, 2); });
  ServeOptions o = options(server, 20);
  o.request_rate = 100;  // a request every 10 ms on average
  o.workload.seed = 3;
  const auto times = arrival_times(20, 100, 1.0, 3);
  timed([&](Near& near) {
    const ServeResult r = run(o);
    ASSERT_EQ(r.completed, 20);
    for (size_t i = 0; i < times.size(); ++i) {
      EXPECT_GE(r.records[i].start, times[i] - 0.0005);  // a timer never fires early
      near("send " + std::to_string(i), r.records[i].start, times[i], 0.004);
    }
  });
}

TEST(ServeBench, FailuresAreCountedByKind) {
  FakeServer server([](int i, const std::string&) {
    Script s;
    switch (i) {
      case 0:
        s.status = 500;
        s.parts = {{0, R"({"error":{"message":"boom"}})"}};
        return s;
      case 1:
        s.status = 429;
        s.parts = {{0, R"({"error":{"message":"slow down"}})"}};
        return s;
      case 2:  // closed after one token, the chunked body never ended
        s.parts = {{5, test::text_event("a")}};
        s.drop = true;
        return s;
      case 3:  // lines no OpenAI server sends, around a good stream: counted, the request succeeds
        s = test::token_stream(5, 5, 3);
        s.parts.insert(s.parts.begin(), {0, "garbage without a colon\nfoo: bar\n: a comment\n\n"});
        return s;
      case 4:  // no [DONE]
        s = test::token_stream(5, 5, 3);
        s.parts.pop_back();
        return s;
      case 5:  // data that is not JSON
        s = test::token_stream(5, 5, 2);
        s.parts.insert(s.parts.begin() + 1, {0, "data: {not json\n\n"});
        return s;
      case 6:  // an error event inside the stream
        s = test::token_stream(5, 5, 1);
        s.parts.insert(s.parts.begin() + 1, {0, "data: {\"error\":{\"message\":\"oom\"}}\n\n"});
        return s;
      case 7:  // a connection closed before any response
        s.no_response = true;
        return s;
      case 8:  // a body delimited by the end of the connection, no chunking: fine
        s = test::token_stream(5, 5, 3);
        s.chunked = false;
        return s;
      default:
        return test::token_stream(5, 5, 3);
    }
  });
  ServeOptions o = options(server, 10);
  o.max_concurrency = 1;  // the script goes by arrival order
  const ServeResult r = run(o);
  EXPECT_EQ(r.completed, 3);
  EXPECT_EQ(r.failed, 7);
  const std::map<std::string, int> want = {{"http_500", 1},       {"http_429", 1},
                                           {"dropped_stream", 1}, {"malformed_sse", 2},
                                           {"stream_error", 1},   {"connection", 1}};
  EXPECT_EQ(r.error_counts, want);
  EXPECT_EQ(r.sse_ignored_lines, 2);
  EXPECT_TRUE(r.records[3].success);
  EXPECT_TRUE(r.records[8].success);
  EXPECT_NE(r.records[0].error_detail.find("boom"), std::string::npos);
  EXPECT_NE(r.records[4].error_detail.find("[DONE]"), std::string::npos);
  // Failures leave the metrics of the good requests alone.
  EXPECT_EQ(r.total_output_tokens, 9);
  const auto j = result_json(o, r);
  EXPECT_EQ(j["errors"].size(), 10u);
  EXPECT_EQ(j["errors"][0].get<std::string>().rfind("http_500", 0), 0u);
  EXPECT_EQ(j["errors"][3], "");
}

TEST(ServeBench, ConnectionRefusedAndSilentServer) {
  int port = 0;
  {  // a port nobody listens on any more
    FakeServer gone([](int, const std::string&) { return Script{}; });
    port = gone.port();
  }
  ServeOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.model = "m";
  o.progress = false;
  o.workload.num_prompts = 3;
  o.workload.input_len = 2;
  ServeResult r = run(o);
  EXPECT_EQ(r.completed, 0);
  EXPECT_EQ(r.error_counts["connection"], 3);

  FakeServer silent([](int, const std::string&) {
    Script s = test::token_stream(5, 5, 1);
    s.parts.pop_back();
    s.hang_ms = 600;  // then silence
    return s;
  });
  o.base_url = silent.url();
  o.timeout_s = 0.15;
  o.workload.num_prompts = 2;
  r = run(o);
  EXPECT_EQ(r.error_counts["timeout"], 2);
}

TEST(ServeBench, ChatBodiesAndLogprobTokenCounting) {
  // No usage, no text: tokens are counted from the chunks' logprobs.
  const std::string role = R"(data: {"choices":[{"delta":{"role":"assistant","content":""}}]})";
  const std::string two =
      R"(data: {"choices":[{"delta":{},"logprobs":{"content":[{"token":"a"},{"token":"b"}]}}]})";
  FakeServer server([&](int, const std::string&) {
    Script s;
    s.parts.emplace_back(Script::Part{5, role + "\n\n"});
    for (int i = 0; i < 3; ++i) s.parts.emplace_back(Script::Part{i == 0 ? 40 : 5, two + "\n\n"});
    s.parts.emplace_back(Script::Part{0, test::kDone});
    return s;
  });
  ServeOptions o = options(server, 1);
  o.endpoint = "/v1/chat/completions";
  o.logprobs = 0;
  o.ignore_eos = true;
  o.extra_body = R"({"min_tokens": 2})";
  BenchPrompt p;
  p.system = "sys";
  p.text = "hello";
  p.output_len = 6;
  const ServeResult r = run_serve(o, {p}, nullptr);
  ASSERT_EQ(r.completed, 1);
  EXPECT_EQ(r.token_count_source, "logprobs");
  EXPECT_EQ(r.total_output_tokens, 6);
  // The role-only chunk (at 5 ms) is not a token; the first logprobs chunk (at 45 ms) is.
  EXPECT_GE(r.records[0].ttft, 0.045 - 0.001);
  EXPECT_LT(r.records[0].ttft, 0.5);
  const auto body = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "hello");
  EXPECT_EQ(body["logprobs"], true);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["min_tokens"], 2);
  EXPECT_EQ(body["max_tokens"], 6);
}

TEST(ServeBench, SweepRunsEveryLevel) {
  FakeServer server([](int, const std::string&) { return test::token_stream(20, 5, 3); });
  SweepOptions s;
  s.serve = options(server, 4);
  s.by = "max_concurrency";
  s.levels = {1, 4};
  const auto prompts = make_workload(s.serve.workload, nullptr);
  const auto levels = run_sweep(s, prompts, nullptr);
  ASSERT_EQ(levels.size(), 2u);
  EXPECT_EQ(levels[0].result.max_concurrent_requests, 1);
  EXPECT_EQ(levels[1].result.max_concurrent_requests, 4);
  EXPECT_GT(levels[1].result.request_throughput, 2 * levels[0].result.request_throughput);
  const auto j = sweep_json(s, levels);
  EXPECT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][1]["max_concurrency"], 4);
  EXPECT_EQ(j["results"][0]["completed"], 4);
  EXPECT_NE(sweep_table(s, levels).find("concurrency"), std::string::npos);
  const std::string svg = sweep_svg(s, levels);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
}

TEST(ServeBench, BadOptionsAreClearErrors) {
  ServeOptions o;
  o.model = "m";
  o.base_url = "https://example.com";
  EXPECT_THROW(
      {
        try {
          run(o);
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
          EXPECT_NE(std::string(e.what()).find("https is not supported"), std::string::npos);
          throw;
        }
      },
      Error);
  o.base_url = "http://127.0.0.1:1";
  o.request_rate = 0;
  EXPECT_THROW(run(o), Error);
  o.request_rate = 1;
  o.extra_body = "[1]";
  EXPECT_THROW(run(o), Error);
}

}  // namespace
}  // namespace osprey::bench
