// Lexer and parser edge cases: whitespace control, literals, precedence, syntax errors with lines.
#include <gtest/gtest.h>

#include "jinja/lexer.h"
#include "jinja/parser.h"
#include "test_util_render.h"

namespace osprey::jinja {
namespace {

using testing::render;
using testing::render_error;

TEST(JinjaLexer, TokenizesTagsAndText) {
  const auto toks = tokenize("a{{ x + 1 }}b{% if y %}c{% endif %}");
  ASSERT_GE(toks.size(), 5u);
  EXPECT_EQ(toks[0].type, Tok::kText);
  EXPECT_EQ(toks[0].value, "a");
  EXPECT_EQ(toks[1].type, Tok::kVarBegin);
  EXPECT_EQ(toks[2].type, Tok::kName);
  EXPECT_EQ(toks[3].value, "+");
  EXPECT_EQ(toks[4].type, Tok::kInt);
  EXPECT_EQ(toks.back().type, Tok::kEof);
}

TEST(JinjaLexer, LineNumbersCountNewlines) {
  const auto toks = tokenize("a\nb\n{{ x }}");
  EXPECT_EQ(toks[1].line, 3);
}

TEST(JinjaLexer, TrailingNewlineDroppedOnce) {
  EXPECT_EQ(render("x\n"), "x");
  EXPECT_EQ(render("x\n\n"), "x\n");
  EXPECT_EQ(render("a\r\nb\r\n"), "a\nb");
}

TEST(JinjaLexer, TrimAndLstripBlocks) {
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(render("a {% if true %}b{% endif %}"), "a b");  // not at line start: kept
  EXPECT_EQ(render("  {{ 1 }}\n"), "  1");                  // lstrip is for blocks only
  EXPECT_EQ(render("{# c #}\nx"), "x");                     // trim_blocks applies to comments
  EXPECT_EQ(render("a  {%- if true %}b{% endif -%}  \n c"), "abc");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");
}

TEST(JinjaLexer, RawBlocks) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("{%- raw -%}  a  {%- endraw -%}"), "a");
}

TEST(JinjaLexer, StringEscapes) {
  EXPECT_EQ(render(R"({{ 'a\'b' }}{{ "\u00e9" }}{{ '\x41\n' }}{{ '\d' }})"), "a'béA\n\\d");
}

TEST(JinjaLexer, DictBracesInsideOutput) {
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
}

TEST(JinjaParser, Precedence) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }}"), "7");
  EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "64");  // left-associative in Jinja2
  EXPECT_EQ(render("{{ -2 ** 2 }}"), "4");
  EXPECT_EQ(render("{{ 1 ~ (2 + 3) }}"), "15");
  EXPECT_EQ(render_error("{{ 1 ~ 2 + 3 }}"),
            "TypeError: can only concatenate str (not \"int\") to str");  // as Jinja2
  EXPECT_EQ(render("{{ not 1 == 2 }}"), "True");
  EXPECT_EQ(render("{{ 'a' if false else 'b' if true else 'c' }}"), "b");
  EXPECT_EQ(render("{{ [1,2,3]|length + 1 }}"), "4");
  EXPECT_EQ(render("{{ -3|abs }}"), "3");
}

TEST(JinjaParser, SyntaxErrorsCarryLines) {
  const std::string err = render_error("ok\n\n{% if %}x{% endif %}");
  EXPECT_EQ(err.rfind("TemplateSyntaxError", 0), 0u) << err;
  try {
    Template("a\nb\n{{ x + }}");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos);
  }
}

TEST(JinjaParser, RejectsMalformed) {
  for (const char* t : {"{{",
                        "{%",
                        "{#",
                        "{{ x",
                        "{% if x %}",
                        "{% for x in %}{% endfor %}",
                        "{% raw %}abc",
                        "{{ 'abc }}",
                        "{% endfor %}",
                        "{% else %}",
                        "{{ ) }}",
                        "{{ [1, 2 }}",
                        "{% set %}",
                        "{% macro %}{% endmacro %}",
                        "{{ x is }}",
                        "{% break %}",
                        "{{ 1 2 }}",
                        "{{ a.  }}",
                        "{% for %}",
                        "{{ x|  }}",
                        "{% if x %}{% elif %}{% endif %}",
                        "{% call x %}{% endcall %}"}) {
    EXPECT_THROW(Template{t}, TemplateError) << t;
  }
}

TEST(JinjaParser, UnknownFilterFailsAtParseUnlessConditional) {
  EXPECT_THROW(Template("{{ x|nope }}"), TemplateError);
  EXPECT_NO_THROW(Template("{% if x %}{{ x|nope }}{% endif %}"));
  EXPECT_EQ(render("{% if false %}{{ x|nope }}{% endif %}ok"), "ok");
}

}  // namespace
}  // namespace osprey::jinja
