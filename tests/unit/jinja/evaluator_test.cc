// Evaluator semantics that differ from what a C++ programmer would guess: Python's rendering of
// values, Jinja2's scoping and Undefined, and the chat-template glue.
#include <gtest/gtest.h>

#include <thread>

#include "jinja/chat_template.h"
#include "test_util.h"
#include "test_util_render.h"

namespace osprey::jinja {
namespace {

using testing::render;
using testing::render_error;

TEST(JinjaValues, PythonRendering) {
  EXPECT_EQ(render("{{ 1.0 }} {{ 0.1 }} {{ 1e-5 }} {{ 1e16 }} {{ 123.456 }} {{ 1/3 }}"),
            "1.0 0.1 1e-05 1e+16 123.456 0.3333333333333333");
  EXPECT_EQ(render("{{ none }} {{ true }} {{ [none, false, 'x'] }} {{ {'k': 1} }}"),
            "None True [None, False, 'x'] {'k': 1}");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }}"), "3 -4 2 3.5");
}

TEST(JinjaValues, DictsKeepInsertionOrder) {
  EXPECT_EQ(render("{{ d|tojson }} {% for k in d %}{{ k }}{% endfor %}",
                   R"({"d": {"z": 1, "a": 2, "m": 3}})"),
            R"({"z": 1, "a": 2, "m": 3} zam)");
}

TEST(JinjaScoping, LoopDoesNotLeak) {
  EXPECT_EQ(
      render(
          "{% set x = 1 %}{% for i in [5, 6] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}{{ i }}"),
      "561");
  EXPECT_EQ(render("{% set ns = namespace(x=1) %}{% for i in [5, 6] %}{% set ns.x = i %}{% endfor "
                   "%}{{ ns.x }}"),
            "6");
  EXPECT_EQ(render("{% if true %}{% set y = 2 %}{% endif %}{{ y }}"), "2");
  EXPECT_EQ(render("{% macro m() %}{% set z = 3 %}{{ z }}{% endmacro %}{{ m() }}{{ z }}"), "3");
}

TEST(JinjaUndefined, BehavesLikeJinja2Default) {
  EXPECT_EQ(
      render("[{{ nope }}]{% for x in nope %}x{% endfor %}{{ nope is defined }}{{ nope|length }}"),
      "[]False0");
  EXPECT_EQ(render_error("{{ nope.attr }}"), "UndefinedError: 'nope' is undefined");
  EXPECT_EQ(render_error("{{ d.a.b }}", R"({"d": {}})"),
            "UndefinedError: 'dict object' has no attribute 'a'");
  EXPECT_EQ(render_error("{{ nope + 1 }}"), "UndefinedError: 'nope' is undefined");
  EXPECT_EQ(render("{{ d.a }}|{{ d['a'] }}|{{ l[5] }}", R"({"d": {}, "l": []})"), "||");
}

TEST(JinjaValues, SelfReferencesDoNotLeak) {  // checked by LeakSanitizer in the ASan build
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.self = ns %}{% macro m() %}{{ ns.self.x "
                   "}}{% endmacro %}"
                   "{% set ns.m = m %}{% set ns.x = 1 %}{{ ns.m() }}"
                   "{% for i in [1, 1, 2] %}{{ loop.changed(i) }}{% if loop.changed(loop) %}{% "
                   "endif %}{% endfor %}"),
            "1TrueTrueTrue");  // one changed() state per loop, as in Jinja2
}

TEST(JinjaErrors, RuntimeErrorsHaveLines) {
  try {
    render("line1\n{{ 1 / 0 }}");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.type(), "ZeroDivisionError");
    EXPECT_EQ(e.line(), 2);
  }
}

TEST(JinjaErrors, ErrorsAreOspreyErrors) {
  try {
    render("{{ raise_exception('x') }}");
  } catch (const Error& e) {
    SUCCEED();
    return;
  }
  // raise_exception only exists in chat templates; calling an undefined name is an UndefinedError.
  FAIL();
}

TEST(ChatTemplateGlue, ContextAndHelpers) {
  ChatTemplate t(
      "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
      "{% if add_generation_prompt %}A:{% endif %}{{ tools|length }}{{ custom }}{{ "
      "strftime_now('%Y-%m-%d') }}{{ eos_token }}");
  ChatTemplateOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  o.add_generation_prompt = true;
  o.tools = nlohmann::ordered_json::array({{{"name", "f"}}});
  o.extra = {{"custom", "!"}};
  o.clock = testing::fixed_clock;
  const auto msgs = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(t.render(msgs, o), "<s>user:hi;A:1!2026-11-26</s>");
  EXPECT_EQ(render_chat_template("{{ messages[0].content }}",
                                 nlohmann::json::parse(R"([{"content": "x"}])"), o),
            "x");
}

TEST(ChatTemplateGlue, RaiseExceptionCarriesMessage) {
  ChatTemplate t("{{ raise_exception('Roles must alternate') }}");
  try {
    t.render(nlohmann::ordered_json::array(), {});
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.type(), "TemplateError");
    EXPECT_EQ(e.message(), "Roles must alternate");
  }
}

TEST(ChatTemplateGlue, ConcurrentRendersShareOneParse) {
  const ChatTemplate t(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ "
      "m.content|upper }}{% endfor %}"
      "{{ ns.n }}");
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      const std::string id = std::to_string(k);
      const auto msgs = nlohmann::ordered_json::array(
          {{{"content", std::string("a").append(id)}}, {{"content", "b"}}});
      const std::string expected = std::string("A").append(id).append("B2");
      for (int i = 0; i < 200; ++i) ok[k] += t.render(msgs, {}) == expected;
    });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) EXPECT_EQ(ok[k], 200);
}

}  // namespace
}  // namespace osprey::jinja
