// Hostile templates must fail with an error, never crash, hang or exhaust memory.
#include <gtest/gtest.h>

#include "test_util_render.h"

namespace osprey::jinja {
namespace {

using testing::render_error;

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(JinjaHostile, DeepExpressionNesting) {
  EXPECT_NE(render_error("{{ " + repeat("(", 20000) + "1" + repeat(")", 20000) + " }}"), "");
  EXPECT_NE(render_error("{{ " + repeat("[", 20000) + repeat("]", 20000) + " }}"), "");
  EXPECT_NE(render_error("{{ " + repeat("not ", 20000) + "1 }}"), "");
  EXPECT_NE(render_error("{{ " + repeat("-", 20000) + "1 }}"), "");
  EXPECT_NE(render_error("{{ x" + repeat("|upper", 20000) + " }}"), "");
}

TEST(JinjaHostile, DeepBlockNesting) {
  EXPECT_NE(render_error(repeat("{% if true %}", 5000) + repeat("{% endif %}", 5000)), "");
  EXPECT_NE(render_error(repeat("{% for x in [1] %}", 5000) + repeat("{% endfor %}", 5000)), "");
}

TEST(JinjaHostile, UnboundedRecursion) {
  EXPECT_EQ(render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "RecursionError: maximum recursion depth exceeded");
  EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) ~ f(n + 1) }}{% endmacro %}{{ f(0) }}"), "");
}

TEST(JinjaHostile, HugeLoopsHitTheBudget) {
  Limits small;
  small.max_steps = 1'000'000;
  EXPECT_EQ(render_error(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                "{}", small),
            "TemplateRuntimeError: template evaluation exceeded the step limit");
  EXPECT_EQ(
      render_error("{{ range(10000000)|length }}"),
      "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(JinjaHostile, HugeStringsHitTheSizeLimit) {
  Limits small;
  small.max_output = 1 << 20;
  EXPECT_EQ(render_error("{{ 'a' * 100000000 }}", "{}", small),
            "MemoryError: string or output exceeds the size limit");
  EXPECT_NE(render_error("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = "
                         "ns.s ~ ns.s %}{% endfor %}",
                         "{}", small),
            "");
  EXPECT_NE(render_error("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "{}", small),
            "");
  EXPECT_NE(render_error("{{ [1, 2] * 1000000000 }}", "{}", small), "");
}

TEST(JinjaHostile, ArithmeticEdges) {
  EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}"), "");
  EXPECT_NE(render_error("{{ 2 ** 64 }}"), "");
  EXPECT_NE(render_error("{{ (-9223372036854775807 - 1) // -1 }}"), "");
  EXPECT_NE(render_error("{{ 99999999999999999999 }}"), "");
  EXPECT_EQ(render_error("{{ 1 % 0 }}"), "ZeroDivisionError: integer modulo by zero");
  EXPECT_EQ(render_error("{{ '%d'|format('x') }}"),
            "TypeError: %d format: a real number is required, not str");
}

TEST(JinjaHostile, GarbageBytes) {
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes += static_cast<char>((i * 7919) % 256);
  render_error(bytes);  // must not crash; an error or text are both fine
  render_error("{{ '" + std::string("\xff\xfe\x80", 3) + "'|upper|length }}{{ '\xe2\x82'[0] }}");
  SUCCEED();
}

}  // namespace
}  // namespace osprey::jinja
