#include <gtest/gtest.h>

#include "server/sse.h"

namespace osprey::server {

TEST(Sse, FramesOneDataLinePerEvent) {
  const std::string e = sse_event({{"a", "x\ny"}});
  EXPECT_EQ(e, "data: {\"a\":\"x\\ny\"}\n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

TEST(Sse, InvalidUtf8IsReplacedNotThrown) {
  const std::string e = sse_event({{"t", std::string("a\xff")}});
  EXPECT_NE(e.find("a\xEF\xBF\xBD"), std::string::npos);
}

}  // namespace osprey::server
