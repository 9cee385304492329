#include "engine/stop_strings.h"

#include <gtest/gtest.h>

namespace osprey {
namespace {

// Feeds `deltas`, returns (emitted text, stopped, which).
std::tuple<std::string, bool, std::string> feed(StopStrings& s,
                                                const std::vector<std::string>& deltas) {
  std::string out;
  for (const auto& d : deltas) {
    auto r = s.push(d);
    out += r.emit;
    if (r.stopped) return {out, true, r.which};
  }
  return {out + s.flush(), false, ""};
}

TEST(StopStrings, MatchAcrossDeltasAndExcludeTheStop) {
  StopStrings s({"\n\nUser:", "END"}, false);
  auto [text, stopped, which] = feed(s, {"Hello", " world\n", "\nUs", "er: more"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(which, "\n\nUser:");
  EXPECT_EQ(text, "Hello world");
}

TEST(StopStrings, IncludeWhenAsked) {
  StopStrings s({"END"}, true);
  auto [text, stopped, which] = feed(s, {"abcE", "NDxyz"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(text, "abcEND");
}

TEST(StopStrings, NeverEmitsAPartialStopString) {
  StopStrings s({"STOP"}, false);
  // Only the last 3 bytes (a stop string's length - 1) can still be the start of "STOP".
  auto r = s.push("abcST");
  EXPECT_EQ(r.emit, "ab");
  r = s.push("O");
  EXPECT_EQ(r.emit, "c");
  r = s.push("x");  // "STOx" is no stop: "S" is safe now
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emit, "S");
  EXPECT_EQ(s.flush(), "TOx");
  StopStrings t({"STOP"}, false);
  std::string out;
  for (char ch : std::string("xxSTOP")) {
    auto rr = t.push(std::string(1, ch));
    out += rr.emit;
    if (rr.stopped) break;
  }
  EXPECT_EQ(out, "xx");
}

TEST(StopStrings, EarliestMatchWins) {
  StopStrings s({"bc", "ab"}, false);
  auto [text, stopped, which] = feed(s, {"xxabc"});
  EXPECT_EQ(which, "ab");
  EXPECT_EQ(text, "xx");
}

TEST(StopStrings, HoldBackDoesNotSplitUtf8) {
  StopStrings s({"zzzz"}, false);
  auto r = s.push("a\xC3\xA9");  // "aé": holding 3 bytes would cut é in half
  for (unsigned char ch : r.emit) EXPECT_TRUE(ch < 0x80 || ch >= 0xC0 || !r.emit.empty());
  EXPECT_EQ(r.emit + s.flush(), "a\xC3\xA9");
  EXPECT_TRUE(r.emit.empty() || r.emit == "a");
}

TEST(StopStrings, NoStopsPassThrough) {
  StopStrings s({}, false);
  EXPECT_EQ(s.push("abc").emit, "abc");
}

}  // namespace
}  // namespace osprey
