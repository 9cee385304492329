// Percentiles as numpy computes them (the reference vLLM's benchmark uses), goodput under SLOs,
// and the SSE parser on streams cut at every byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/serve_bench.h"
#include "bench/sse_parser.h"
#include "bench/stats.h"
#include "core/error.h"

namespace osprey::bench {
namespace {

TEST(Stats, PercentilesMatchNumpyLinear) {
  // numpy.percentile([15, 20, 35, 40, 50], [0, 10, 25, 50, 90, 99, 100])
  //   = [15., 17., 20., 35., 46., 49.6, 50.]
  const std::vector<double> v = {40, 15, 50, 35, 20};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 15);
  EXPECT_DOUBLE_EQ(percentile(v, 10), 17);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 20);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 35);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 46);
  EXPECT_NEAR(percentile(v, 99), 49.6, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 50);
  // numpy.percentile(range(1, 101), 99) = 99.01; median of an even sample is the midpoint.
  std::vector<double> h;
  for (int i = 1; i <= 100; ++i) h.push_back(i);
  EXPECT_NEAR(percentile(h, 99), 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(percentile(h, 50), 50.5);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_THROW(percentile(v, 101), Error);
}

TEST(Stats, Summary) {
  // numpy: mean 32, std (population) 12.884...
  const Summary s = summarize({40, 15, 50, 35, 20});
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.mean, 32);
  EXPECT_NEAR(s.std, 12.884098726725126, 1e-12);
  EXPECT_DOUBLE_EQ(s.min, 15);
  EXPECT_DOUBLE_EQ(s.median, 35);
  EXPECT_DOUBLE_EQ(s.p90, 46);
  EXPECT_DOUBLE_EQ(s.max, 50);
  const Summary e = summarize({});
  EXPECT_EQ(e.count, 0u);
  EXPECT_EQ(e.p99, 0);
}

RequestRecord record(double ttft, double latency, int64_t out) {
  RequestRecord r;
  r.success = true;
  r.ttft = ttft;
  r.latency = latency;
  r.output_len = out;
  r.prompt_len = 10;
  r.tpot = out > 1 ? (latency - ttft) / static_cast<double>(out - 1) : 0;
  r.token_source = "usage";
  return r;
}

TEST(Goodput, CountsRequestsWithinEveryBound) {
  std::vector<RequestRecord> rs = {
      record(0.050, 0.950, 10),  // ttft 50 ms, tpot 100 ms
      record(0.200, 0.290, 10),  // ttft 200 ms, tpot 10 ms
      record(0.080, 0.170, 10),  // ttft 80 ms, tpot 10 ms: the only one within both
      record(0.090, 0.090, 1),   // one token: tpot counts as 0
  };
  RequestRecord failed;
  failed.error = "http_500";
  rs.push_back(failed);
  const Slo slo = parse_slo("ttft=100,tpot=20");
  EXPECT_DOUBLE_EQ(slo.ttft_ms, 100);
  EXPECT_DOUBLE_EQ(slo.tpot_ms, 20);
  const ServeResult r = aggregate(rs, 2.0, slo);
  EXPECT_EQ(r.completed, 4);
  EXPECT_EQ(r.failed, 1);
  EXPECT_DOUBLE_EQ(r.request_goodput, 2 / 2.0);
  EXPECT_DOUBLE_EQ(r.request_throughput, 4 / 2.0);
  EXPECT_EQ(r.total_output_tokens, 31);
  EXPECT_DOUBLE_EQ(r.output_throughput, 31 / 2.0);
  EXPECT_DOUBLE_EQ(r.total_token_throughput, 71 / 2.0);
  EXPECT_EQ(r.tpot.count, 3u);  // the one-token request has no TPOT sample
  EXPECT_EQ(r.error_counts.at("http_500"), 1);
  // An e2el bound on top: only requests that finished within 100 ms.
  EXPECT_DOUBLE_EQ(aggregate(rs, 2.0, parse_slo("e2el=100")).request_goodput, 1 / 2.0);
  // No SLO: every completed request is good.
  EXPECT_DOUBLE_EQ(aggregate(rs, 2.0, Slo{}).request_goodput, 2.0);
  EXPECT_THROW(parse_slo("ttft=abc"), Error);
  EXPECT_THROW(parse_slo("latency=5"), Error);
  EXPECT_THROW(parse_slo("ttft=-1"), Error);
  EXPECT_DOUBLE_EQ(parse_slo("ttft:300,e2el=2000").e2el_ms, 2000);  // vLLM's KEY:MS form too
}

TEST(Aggregate, ThroughputOverTimeAndConcurrency) {
  RequestRecord a = record(0.2, 2.2, 4);
  a.chunk_times = {0.2, 0.4, 1.2, 2.2};  // bins 0, 0, 1, 2
  RequestRecord b = record(0.1, 0.5, 2);
  b.start = 0.3;
  b.chunk_times = {0.4, 0.8};  // both in bin 0
  const ServeResult r = aggregate({a, b}, 2.5, Slo{});
  // Bins of 1 s with points at their middles; the last bin is half a second wide.
  const std::vector<std::pair<double, double>> want = {{0.5, 4}, {1.5, 1}, {2.25, 2}};
  EXPECT_EQ(r.output_tokens_per_s, want);
  EXPECT_DOUBLE_EQ(r.max_output_tokens_per_s, 4);  // whole seconds only
  EXPECT_EQ(r.max_concurrent_requests, 2);         // [0, 2.2] and [0.3, 0.8] overlap
  // A last bin under a quarter second is no rate: left out.
  EXPECT_EQ(aggregate({a, b}, 2.2, Slo{}).output_tokens_per_s.size(), 2u);
}

std::vector<std::string> parse_in_pieces(const std::string& stream, const std::vector<size_t>& cuts,
                                         SseParser& p) {
  std::vector<std::string> out;
  auto on = [&](std::string_view d) { out.emplace_back(d); };
  size_t prev = 0;
  for (size_t c : cuts) {
    p.feed(std::string_view(stream).substr(prev, c - prev), on);
    prev = c;
  }
  p.feed(std::string_view(stream).substr(prev), on);
  p.finish(on);
  return out;
}

TEST(SseParser, SameEventsWhereverTheStreamIsCut) {
  const std::string stream =
      "\xEF\xBB\xBF"  // a BOM
      ": keep-alive\r\n\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: message\nid: 7\ndata:{\"b\":\"\xC3\xA9\"}\n\n"
      "data: line1\ndata: line2\n\n"
      "retry: 10\rdata: cr-only\r\r"
      "data: [DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":\"\xC3\xA9\"}", "line1\nline2",
                                         "cr-only", "[DONE]"};
  {
    SseParser p;
    EXPECT_EQ(parse_in_pieces(stream, {}, p), want);
    EXPECT_EQ(p.ignored_lines(), 0);
    EXPECT_EQ(p.events(), 5);
  }
  for (size_t cut = 1; cut < stream.size(); ++cut) {  // one cut anywhere
    SseParser p;
    EXPECT_EQ(parse_in_pieces(stream, {cut}, p), want) << "cut at " << cut;
  }
  for (size_t a = 1; a + 1 < stream.size(); a += 3) {  // two cuts
    for (size_t b = a + 1; b < stream.size(); b += 5) {
      SseParser p;
      ASSERT_EQ(parse_in_pieces(stream, {a, b}, p), want) << a << "," << b;
    }
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  SseParser p;
  EXPECT_EQ(parse_in_pieces(stream, every, p), want);  // a byte at a time
}

TEST(SseParser, GarbageIsCountedAndTheEndIsLenient) {
  SseParser p;
  std::vector<std::string> out;
  auto on = [&](std::string_view d) { out.emplace_back(d); };
  p.feed("hello world\nfoo: bar\ndata: x\n\n", on);
  EXPECT_EQ(p.ignored_lines(), 2);
  EXPECT_EQ(out, std::vector<std::string>{"x"});
  p.feed("data: [DONE]", on);  // no newline at all before the end of the stream
  EXPECT_TRUE(p.finish(on));
  EXPECT_EQ(out.back(), "[DONE]");
  SseParser q;
  q.feed("data: y\n\n", on);
  EXPECT_FALSE(q.finish(on));  // nothing left open
  SseParser small(16);
  small.feed(std::string(100, 'z'), on);
  EXPECT_TRUE(small.overflowed());
}

}  // namespace
}  // namespace osprey::bench
