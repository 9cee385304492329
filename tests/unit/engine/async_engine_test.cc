// AsyncEngine: outputs stream to other threads, every accepted request ends with a finished output
// (result, abort or error), and aborts free the KV cache.
#include "osprey/async_engine.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "core/error.h"

namespace osprey {
namespace {

const std::string kModel = std::string(OSPREY_FIXTURES) + "/hf-reference/llama-f32";

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<RequestOutput>> outputs;
  std::map<std::string, int> finished;

  AsyncEngine::Callback callback() {
    return [this](const RequestOutput& o) {
      std::lock_guard lock(mu);
      outputs[o.request_id].push_back(o);
      if (o.finished) ++finished[o.request_id];
      cv.notify_all();
    };
  }
  void wait_finished(size_t n) {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished.size() >= n; }));
  }
};

// "r3": built with append, as GCC 12 warns falsely (-Wstringop-overflow) on "r" +
// std::to_string(i).
std::string numbered(std::string prefix, int i) {
  prefix.append(std::to_string(i));
  return prefix;
}

EngineConfig config() {
  EngineConfig c;
  c.model = kModel;
  c.progress = false;
  c.kv_cache_memory = 4 << 20;
  return c;
}

TEST(AsyncEngine, StreamsTokensAndFinishesEveryRequestOnce) {
  Collector col;  // outlives the engine, whose thread may still call back
  AsyncEngine engine(config());
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 8;
  p.ignore_eos = true;
  for (int i = 0; i < 10; ++i) {
    engine.add_request(numbered("r", i), {std::nullopt, {1, 2, 3, static_cast<int32_t>(i + 5)}}, p,
                       0, col.callback());
  }
  col.wait_finished(10);
  std::lock_guard lock(col.mu);
  for (const auto& [id, outs] : col.outputs) {
    EXPECT_EQ(col.finished[id], 1) << id;
    size_t streamed = 0;
    for (const auto& o : outs) streamed += o.outputs[0].num_new_tokens;
    EXPECT_EQ(streamed, 8u) << id;  // deltas add up to the whole output
    EXPECT_EQ(outs.back().outputs[0].token_ids.size(), 8u);
    EXPECT_EQ(outs.back().outputs[0].finish_reason, "length");
  }
}

TEST(AsyncEngine, AbortEndsARequestAndFreesItsBlocks) {
  Collector col;  // outlives the engine, whose thread may still call back
  AsyncEngine engine(config());
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 1000;
  p.ignore_eos = true;
  engine.add_request("long", {std::nullopt, {1, 2, 3}}, p, 0, col.callback());
  {
    std::unique_lock lock(col.mu);
    col.cv.wait_for(lock, std::chrono::seconds(30), [&] { return !col.outputs["long"].empty(); });
  }
  engine.abort("long");
  col.wait_finished(1);
  std::lock_guard lock(col.mu);
  EXPECT_EQ(col.outputs["long"].back().outputs[0].finish_reason, "abort");
  EXPECT_LT(col.outputs["long"].back().outputs[0].token_ids.size(), 1000u);
  for (int i = 0; i < 100 && engine.stats().kv_usage > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(engine.stats().kv_usage, 0.0);
}

TEST(AsyncEngine, RefusalsComeBackAsErrors) {
  EngineConfig c = config();
  c.max_waiting = 1;
  c.max_num_seqs = 1;
  Collector col;  // outlives the engine, whose thread may still call back
  AsyncEngine engine(c);
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 4;
  // Checked on the caller's thread:
  SamplingParams bad = p;
  bad.temperature = -1;
  EXPECT_THROW(engine.add_request("bad", {std::nullopt, {1}}, bad, 0, col.callback()), Error);
  EXPECT_THROW(engine.add_request("empty", {std::nullopt, {}}, p, 0, col.callback()), Error);
  // Refused by the engine (duplicate id): a finished output with an error.
  engine.add_request("a", {std::nullopt, {1, 2}}, p, 0, col.callback());
  engine.add_request("a", {std::nullopt, {1, 2}}, p, 0, col.callback());
  col.wait_finished(1);
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(col.mu);
      if (col.outputs["a"].size() >= 2 && col.outputs["a"].back().finished) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(col.mu);
  int errors = 0;
  for (const auto& o : col.outputs["a"]) errors += !o.error.empty();
  EXPECT_EQ(errors, 1);
}

TEST(AsyncEngine, DrainFinishesInFlightRequests) {
  Collector col;  // outlives the engine, whose thread may still call back
  AsyncEngine engine(config());
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 6;
  p.ignore_eos = true;
  for (int i = 0; i < 4; ++i)
    engine.add_request(numbered("d", i), {std::nullopt, {1, 2}}, p, 0, col.callback());
  engine.drain(std::chrono::seconds(30));
  EXPECT_EQ(col.finished.size(), 4u);  // drain returns only when all have their final output
  std::lock_guard lock(col.mu);
  for (const auto& [id, outs] : col.outputs) {
    ASSERT_TRUE(outs.back().error.empty()) << outs.back().error;
    EXPECT_EQ(outs.back().outputs.at(0).finish_reason, "length") << id;
  }
  EXPECT_THROW(engine.add_request("late", {std::nullopt, {1, 2}}, p, 0, col.callback()), Error);
}

}  // namespace
}  // namespace osprey
