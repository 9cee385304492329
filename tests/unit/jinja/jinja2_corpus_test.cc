// ~130 small templates, one or more features each, rendered by Debian's python3-jinja2 (through
// jinja2_reference.py, with Hugging Face's settings) at test time and by Osprey: the outputs must
// be equal byte for byte, and where Jinja2 raises we must raise the same error.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "jinja/chat_template.h"
#include "jinja/error.h"
#include "test_util.h"

namespace osprey::jinja {
namespace {

using nlohmann::ordered_json;

struct Case {
  const char* name;  // "syntax_*": compare only the error type (Jinja2's parser wording differs)
  const char* tmpl;
};

const Case kCases[] = {
    // statements and whitespace control
    {"if_elif_else", "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}"},
    {"for_index",
     "{% for x in xs %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}"},
    {"for_loop_vars",
     "{% for x in xs %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ "
     "loop.last }}{{ loop.length }}|{% endfor %}"},
    {"for_prev_next",
     "{% for x in xs %}{{ loop.previtem is defined }}-{{ loop.nextitem|default('END') }} {% endfor "
     "%}"},
    {"for_cycle", "{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %}"},
    {"for_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"},
    {"for_filter", "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}"},
    {"for_else", "{% for x in empty %}{{ x }}{% else %}none{% endfor %}"},
    {"for_break", "{% for x in xs %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}"},
    {"for_continue",
     "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}"},
    {"for_scope",
     "{% set y = 1 %}{% for x in xs %}{{ y }}{% set y = x %}{{ y }}{% endfor %}{{ y }}"},
    {"for_nested_depth",
     "{% for x in xs %}{% for y in xs %}{{ loop.depth }}{{ loop.index }}{% endfor %}{{ loop.index "
     "}}{% endfor %}"},
    {"for_changed",
     "{% for p in people %}{% if loop.changed(p.age) %}[{{ p.age }}]{% endif %}{{ p.name }}{% "
     "endfor %}"},
    {"err_namespace_missing", "{% set ns = namespace(a=1) %}{{ ns.b }}|{{ ns.b.c }}"},
    {"for_dict", "{% for k in d %}{{ k }}{% endfor %}"},
    {"for_string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}"},
    {"namespace_sum",
     "{% set ns = namespace(total=0) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% endfor "
     "%}{{ ns.total }}"},
    {"set_unpack", "{% set a, b = [1, 2] %}{{ a }}{{ b }}"},
    {"set_block", "{% set block %}Hello {{ n }}{% endset %}[{{ block }}]"},
    {"set_block_filter", "{% set up | upper %}abc{% endset %}{{ up }}"},
    {"set_in_if_leaks", "{% if t %}{% set leak = 'yes' %}{% endif %}{{ leak }}"},
    {"macro_defaults",
     "{% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ "
     "greet('Ann') }} {{ greet('Bob', greeting='Yo') }}"},
    {"macro_varargs",
     "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"},
    {"macro_recursive",
     "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro "
     "%}{{ fact(5) }}"},
    {"call_block",
     "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner {{ n }}{% endcall %}"},
    {"call_block_args",
     "{% macro li(x) %}[{{ caller(x) }}]{% endmacro %}{% call(v) li(5) %}v={{ v }}{% endcall %}"},
    {"filter_block", "{% filter upper %}hello {{ s|trim }}{% endfilter %}"},
    {"raw", "{% raw %}{{ not rendered }}{% endraw %}"},
    {"comment", "a {# comment #} b\n{# line comment #}\nc"},
    {"trim_lstrip", "line1\n  {% if t %}\n  yes\n  {% endif %}\nend\n"},
    {"ws_minus", "x  {%- if t -%}  y  {%- endif -%}  z"},
    {"ws_var_minus", "{{- ' a ' -}}  {{ 'b' }}\n{{ 'c' }}\n"},
    {"ws_plus", "  {%+ if t %}keep{% endif +%}\nnext"},
    {"ws_loop_lines", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n"},
    {"ws_indented_blocks",
     "<ul>\n    {% for x in xs %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>\n\n"},
    {"with_block", "{% with a = 1, b = n %}{{ a + b }}{% endwith %}"},
    // expressions
    {"int_arith",
     "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 6 / 3 }}"},
    {"float_arith",
     "{{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ 1e3 }} {{ 1.5e-7 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ "
     "123456789012345678.0 }} {{ 2 ** -1 }} {{ 1_000 }}"},
    {"concat", "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 }}"},
    {"repeat_add", "{{ 'ab' * 3 }} {{ [1] * 2 }} {{ 'x' + 'y' }} {{ [1] + [2] }}"},
    {"compare_chain",
     "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 2 >= 2 }} {{ 'abc' < "
     "'abd' }} {{ [1, 2] < [1, 3] }}"},
    {"in_not_in",
     "{{ 'ell' in s }} {{ 4 not in xs }} {{ 'a' in d }} {{ 'z' in d }} {{ not 'a' in d }}"},
    {"and_or_not",
     "{{ t and 'yes' }} {{ fl or 'fallback' }} {{ not t }} {{ nul or 0 }} {{ empty and 1 }}"},
    {"ternary", "{{ 'yes' if t else 'no' }} {{ 'yes' if fl }}|{{ 1 if nul is none else 2 }}"},
    {"string_escapes",
     "{{ \"it's\" }} {{ 'say \"hi\"' }} {{ 'tab\\there' }} {{ 'nl\\n' }} {{ '\\u00e9\\x41' }} {{ "
     "'back\\\\slash' }} {{ '\\q' }}"},
    {"repr_list",
     "{{ [1, 'a', none, true, 1.0, {'k': [2]}] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ [\"it's\"] "
     "}} {{ ['a\\nb'] }}"},
    {"repr_dict", "{{ {'b': 1, 'a': 2} }} {{ d }} {{ {} }} {{ [] }}"},
    {"literals",
     "{{ none }} {{ true }} {{ False }} {{ None }} {{ 1.0 }} {{ -0.0 }} {{ 10 ** 15 }} {{ 3.14 }} "
     "{{ 1e100 }}"},
    {"access", "{{ nested.a.b.c[1] }} {{ nested['a']['b'] }} {{ xs[-1] }} {{ xs.0 }}"},
    {"missing_attr",
     "{{ d.missing }}|{{ d.missing is defined }}|{{ xs[10] is defined }}|{{ d['missing'] }}"},
    {"slicing",
     "{{ s[2:5] }}|{{ s[::-1] }}|{{ xs[1:] }}|{{ xs[:-1] }}|{{ xs[::2] }}|{{ s[-3:] }}|{{ xs[5:] "
     "}}|{{ xs[-10:2] }}"},
    {"unicode_index",
     "{{ 'héllo'[1] }} {{ 'héllo'|length }} {{ 'héllo'[1:3] }} {{ '🤖x'[0] }}"},
    {"unary_precedence",
     "{{ -n }} {{ +f }} {{ -(3 + 4) * 2 }} {{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 ** 3 ** 2 }} {{ "
     "-2 ** 2 }}"},
    {"adjacent_strings", "{{ 'a' 'b' }}"},
    {"bool_expr", "{{ xs|length > 2 and xs[0] == 3 }}"},
    {"last_message", "{{ messages[-1]['content'] }}"},
    {"tuple_output", "{{ 1, 2 }}"},
    // filters
    {"tojson_basic",
     "{{ d|tojson }} {{ xs|tojson }} {{ 'é\"\\n'|tojson }} {{ nul|tojson }} {{ 2.0|tojson }} {{ "
     "t|tojson }}"},
    {"tojson_indent", "{{ people|tojson(indent=2) }}"},
    {"tojson_options",
     "{{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ "
     "'é🤖'|tojson(ensure_ascii=true) }}"},
    {"tojson_tools", "{{ tools|tojson }}"},
    {"tojson_nested_indent", "{{ nested|tojson(indent=4) }}{{ empty|tojson(indent=2) }}"},
    {"string_filters",
     "[{{ s|trim }}] [{{ s|upper }}] [{{ s|lower }}] [{{ 'hello wORLD-x (y'|title }}] [{{ "
     "'hELLO'|capitalize }}] [{{ 'xxaxx'|trim('x') }}]"},
    {"length_count",
     "{{ xs|length }} {{ d|count }} {{ s|length }} {{ empty|length }} {{ missing|length }}"},
    {"join", "{{ xs|join(', ') }} {{ people|join('/', attribute='name') }} {{ words|join }}"},
    {"replace", "{{ s|replace('l', 'L') }} {{ 'aaa'|replace('a', 'b', 2) }}"},
    {"default",
     "{{ missing|default('dflt') }} {{ nul|default('x') }} {{ ''|default('y', true) }} {{ 0|d('z', "
     "true) }} {{ missing|d }}|"},
    {"first_last", "{{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ empty|first is defined }}"},
    {"selectattr_map",
     "{{ people|selectattr('age', 'equalto', 30)|map(attribute='name')|join(',') }}"},
    {"rejectattr", "{{ people|rejectattr('active')|map(attribute='name')|list }}"},
    {"select_reject",
     "{{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list "
     "}} {{ xs|select('gt', 1)|list }}"},
    {"selectattr_tests",
     "{{ people|selectattr('active', 'defined')|list|length }} {{ people|selectattr('name', 'in', "
     "['Ann', 'Cy'])|map(attribute='age')|list }}"},
    {"map_filter",
     "{{ words|map('upper')|list }} {{ xs|map('string')|join('-') }} {{ "
     "people|map(attribute='missing', default='?')|list }}"},
    {"items_dictsort",
     "{{ d|items|list }} {{ d|dictsort }} {{ {'z': 3, 'y': 1, 'X': 2}|dictsort(by='value', "
     "reverse=true) }} {{ {'b': 1, 'A': 2}|dictsort(true) }}"},
    {"list_filter", "{{ 'abc'|list }} {{ xs|list }} {{ d|list }}"},
    {"conversions",
     "{{ 42|string }} {{ '42'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ "
     "'0x1A'|int(0, 16) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'q'|float }} {{ 3|float }} {{ "
     "true|int }}"},
    {"abs_round",
     "{{ neg|abs }} {{ -2.5|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 7|round "
     "}} {{ 1.55|round(1, 'floor') }} {{ 1.21|round(1, 'ceil') }}"},
    {"sort",
     "{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ xs|sort(reverse=true) }} {{ "
     "people|sort(attribute='age')|map(attribute='name')|list }}"},
    {"unique_reverse",
     "{{ words|unique|list }} {{ [1, 2, 1, 3]|unique|list }} {{ xs|reverse|list }} {{ "
     "'abc'|reverse }}"},
    {"batch", "{{ xs|batch(2)|list }} {{ xs|batch(2, 'x')|list }}"},
    {"indent",
     "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, "
     "blank=true) }}|{{ 'x\\n'|indent }}|"},
    {"escape_safe", "{{ '<a href=\"x\">&\\'</a>'|escape }} {{ '<b>'|e }} {{ '<i>'|safe }}"},
    {"markup_concat", "{{ '<p>'|safe + '<q>' }} {{ 'x'|e + '&' }} {{ '<' + '>'|safe }}"},
    {"wordcount_center",
     "{{ 'one two  three'|wordcount }} [{{ 'ab'|center(7) }}] [{{ 'ab'|center(6) }}] [{{ "
     "'abc'|center(6) }}]"},
    {"aggregates",
     "{{ xs|max }} {{ xs|min }} {{ words|max }} {{ people|max(attribute='age')|tojson }} {{ xs|sum "
     "}} {{ people|sum(attribute='age') }} {{ [0.5, 1]|sum(start=10) }}"},
    {"format_filter",
     "{{ '%s is %d years'|format('Ann', 30) }} {{ '%05.1f|%x|%r|%%'|format(3.14159, 255, 'q') }}"},
    {"filter_chain", "{{ 'hello'|upper|replace('L', '_')|lower }}"},
    {"attr_filter", "{{ people[0]|attr('name') }}"},
    // tests
    {"test_defined",
     "{{ x is defined }} {{ n is defined }} {{ x is undefined }} {{ nul is none }} {{ n is not "
     "none }}"},
    {"test_types",
     "{{ s is string }} {{ n is number }} {{ n is integer }} {{ f is float }} {{ t is boolean }} "
     "{{ t is number }} {{ n is string }} {{ t is integer }}"},
    {"test_bool_mapping",
     "{{ t is true }} {{ fl is false }} {{ 1 is true }} {{ d is mapping }} {{ xs is mapping }} {{ "
     "xs is iterable }} {{ s is iterable }} {{ n is iterable }}"},
    {"test_sequence_callable",
     "{{ xs is sequence }} {{ d is sequence }} {{ n is sequence }} {{ range is callable }} {{ n is "
     "callable }}"},
    {"test_numbers",
     "{{ n is even }} {{ n is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"},
    {"test_compare",
     "{{ n is equalto 7 }} {{ n is eq 7 }} {{ n is ne 7 }} {{ n is lt 8 }} {{ n is gt 8 }} {{ n is "
     "ge 7 }} {{ n is le 6 }} {{ 2 is in xs }}"},
    {"test_case_sameas",
     "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }} {{ nul is sameas none }} {{ t "
     "is sameas true }} {{ xs is sameas xs }}"},
    {"test_tool_calls",
     "{{ messages[0].tool_calls is defined }} {{ messages[2].tool_calls is defined }} {{ "
     "messages[2].tool_calls[0].function.arguments|tojson }}"},
    {"test_not_precedence",
     "{{ not n is even }} {{ n is not even and true }} {{ 'x' if n is odd else 'y' }}"},
    // methods
    {"strip_methods",
     "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ "
     "'--a--'.lstrip('-') }}] [{{ '--a--'.rstrip('-') }}]"},
    {"split_methods",
     "{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ' a b "
     "'.split(' ') }} {{ 'a b c'.split(none, 1) }} {{ ''.split() }} {{ ''.split(',') }}"},
    {"case_methods",
     "{{ s.startswith('  H') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ "
     "'abc'.upper() }} {{ 'ABC'.lower() }} {{ \"it's a test\".title() }} {{ 'hELLO'.capitalize() "
     "}}"},
    {"misc_str_methods",
     "{{ 'aaa'.replace('a', 'b') }} {{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ "
     "'hello'.count('l') }} {{ '-'.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'x') }} {{ "
     "'{name}!'.format(name='N') }}"},
    {"dict_methods",
     "{{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', "
     "'dflt') }}"},
    {"dict_iter_methods",
     "{% for k in d.keys() %}{{ k }}{% endfor %} {% for v in d.values() %}{{ v }}{% endfor %}"},
    {"rsplit_maxsplit",
     "{{ ' a b  c '.rsplit(none, 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'a b c  '.split(none, 1) }}{{ "
     "'a,b'.rsplit(',') }}"},
    {"tojson_indent_str", "{{ [1, {'a': 2}]|tojson(indent='--') }}"},
    {"upper_sharp_s", "{{ 'straße'|upper }} {{ 'ÉTÉ'|lower }} {{ 'привет'.upper() }}"},
    {"getitem_undefined_key",
     "{{ xs[missing] }}|{% if d.missing.x %}y{% endif %}|{{ missing|join(',') }}"},
    {"err_int_undefined", "{{ missing|int }}"},
    {"err_mul_sequences", "{{ 'x' * 'y' }}"},
    {"err_max_types", "{{ [1, none]|max }}"},
    {"err_gt_types", "{{ 1 > 'a' }}"},
    {"err_le_types", "{{ 1 <= 'a' }}"},
    {"err_divisibleby_zero", "{{ 7 is divisibleby 0 }}"},
    {"err_macro_dup_kwarg", "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(1, a=2) }}"},
    {"list_pop", "{% set l = [1, 2, 3] %}{{ l.pop() }}{{ l }}{{ l.pop(0) }}{{ l }}"},
    {"list_methods", "{{ xs.index(1) }} {{ xs.count(3) }}"},
    {"content_split_think",
     "{% set c = 'abc</think>\\n\\nanswer' %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ "
     "c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}"},
    // globals
    {"range",
     "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list "
     "}}"},
    {"range_loop", "{% for i in range(3) %}{{ i }}{% endfor %}"},
    {"dict_global", "{{ dict(a=1, b='x') }} {{ dict(a=1)|tojson }}"},
    {"namespace_lists",
     "{% set ns = namespace(items=[], count=0) %}{% for m in messages %}{% set ns.count = ns.count "
     "+ 1 %}{% set ns.items = ns.items + [m.role] %}{% endfor %}{{ ns.count }} {{ ns.items }}"},
    {"cycler",
     "{% set c = cycler('odd', 'even') %}{% for x in xs %}{{ c.next() }}{% endfor %}{{ c.current "
     "}}"},
    {"joiner", "{% set j = joiner('|') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %}"},
    {"strftime_now",
     "{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A') "
     "}}"},
    // chat-like
    {"chatml",
     "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% "
     "endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2_style",
     "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content|trim }} "
     "[/INST]{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% endif %}{% endfor "
     "%}"},
    {"system_split",
     "{%- if messages[0].role == 'system' %}{%- set sys = messages[0].content %}{%- set rest = "
     "messages[1:] %}{%- else %}{%- set rest = messages %}{%- endif %}{{ sys }}|{{ rest|length }}"},
    {"tools_loop",
     "{% for tool in tools %}{{ tool.function.name }}: {{ "
     "tool.function.parameters.properties|tojson }}{% endfor %}"},
    {"multiline_template",
     "{%- for m in messages %}\n    {%- if m.role == 'user' %}\n        {{- 'U: ' + m.content }}\n "
     "   {%- else %}\n        {{- m.role[0]|upper + ': ' + m.content }}\n    {%- endif %}\n    {{- "
     "'\\n' }}\n{%- endfor %}\n"},
    // errors
    {"err_undefined_attr", "{{ undefined_var.attr }}"},
    {"err_missing_chain", "{{ d.missing.x }}"},
    {"err_int_plus_str", "{{ 1 + 'a' }}"},
    {"err_str_plus_int", "{{ 'a' + 1 }}"},
    {"err_div_zero", "{{ 1 / 0 }}"},
    {"syntax_empty_if", "{% if %}x{% endif %}"},
    {"err_unknown_filter", "{{ x|nosuchfilter }}"},
    {"err_unknown_test", "{{ x is nosuchtest }}"},
    {"syntax_unterminated_for", "{% for x in xs %}"},
    {"syntax_unterminated_var", "{{ x "},
    {"syntax_unknown_tag", "{% frobnicate %}"},
    {"syntax_endif_without_if", "{% endif %}"},
    {"err_append_unsafe", "{{ xs.append(4) }}"},
    {"err_range_too_big", "{{ range(1000000)|length }}"},
    {"err_none_plus", "{{ nul + 1 }}"},
    {"err_macro_args", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"},
    {"err_macro_kwargs", "{% macro m(a) %}{% endmacro %}{{ m(1, b=2) }}"},
    {"err_undefined_plus", "{{ undefined_var + 1 }}"},
    {"err_set_non_namespace", "{% set x = 5 %}{% set x.y = 1 %}"},
    {"err_dict_update_unsafe", "{{ d.update({}) }}"},
    {"err_unpack_int", "{% for a, b in xs %}{% endfor %}"},
    {"err_str_missing_method", "{{ 'abc'.missing() }}"},
    {"err_slice_step_zero", "{{ xs[1:2:0] }}"},
    {"err_raise_exception", "{% if t %}{{ raise_exception('custom failure: ' ~ n) }}{% endif %}"},
    {"err_compare_types", "{{ 1 < 'a' }}"},
    {"err_tojson_undefined", "{{ missing|tojson }}"},
    {"err_items_not_mapping", "{{ xs|items|list }}"},
};

ordered_json base_context() {
  return ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                 {"role": "assistant", "content": "Hello!", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
                 {"role": "user", "content": "Thanks ü 🤖"}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "xs": [3, 1, 2], "words": ["b", "A", "c", "a"], "d": {"b": 1, "a": 2, "c": null},
    "s": "  Héllo, Wörld!  ", "n": 7, "f": 2.5, "neg": -3,
    "people": [{"name": "Ann", "age": 30, "tags": ["x"]}, {"name": "bob", "age": 25}, {"name": "Cy", "age": 30, "active": true}],
    "empty": [], "nul": null, "t": true, "fl": false, "nested": {"a": {"b": {"c": [10, 20]}}},
    "tools": [{"type": "function", "function": {"name": "get", "description": "Get", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
  })");
}

const char* kPython = "/usr/bin/python3";

bool have_jinja2() {
  if (!std::filesystem::exists(kPython)) return false;
  return std::system("/usr/bin/python3 -c 'import jinja2' >/dev/null 2>&1") == 0;
}

// Runs every case through Jinja2 in one Python process.
ordered_json run_jinja2(const ordered_json& cases) {
  const std::string in = ::testing::TempDir() + "/jinja2_cases.json";
  {
    std::FILE* f = std::fopen(in.c_str(), "wb");
    const std::string s = cases.dump();
    std::fwrite(s.data(), 1, s.size(), f);
    std::fclose(f);
  }
  const std::string cmd =
      std::string(kPython) + " " OSPREY_FIXTURES "/../unit/jinja/jinja2_reference.py < " + in;
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << "jinja2_reference.py failed";
  return ordered_json::parse(out);
}

std::string render_ours(const std::string& tmpl, const ordered_json& ctx, std::string& error,
                        bool& failed) {
  failed = false;
  try {
    ChatTemplateOptions opts;
    opts.extra = ctx;
    opts.add_generation_prompt = ctx["add_generation_prompt"];
    opts.bos_token = ctx["bos_token"];
    opts.eos_token = ctx["eos_token"];
    opts.clock = testing::fixed_clock;
    return ChatTemplate(tmpl).render(ctx["messages"], opts);
  } catch (const TemplateError& e) {
    failed = true;
    error = e.type() + ": " + e.message();
    return "";
  }
}

TEST(Jinja2Corpus, MatchesPythonJinja2) {
  if (!have_jinja2())
    GTEST_SKIP() << "/usr/bin/python3 with jinja2 not available (apt-get install python3-jinja2)";
  const ordered_json ctx = base_context();
  ordered_json cases = ordered_json::array();
  for (const auto& c : kCases) cases.push_back({{"template", c.tmpl}, {"context", ctx}});
  const ordered_json ref = run_jinja2(cases);
  ASSERT_EQ(ref.size(), std::size(kCases));
  int passed = 0;
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const Case& c = kCases[i];
    std::string error;
    bool failed;
    const std::string out = render_ours(c.tmpl, ctx, error, failed);
    const auto& r = ref[i];
    if (r.contains("error")) {
      const std::string expected = r["error"];
      if (!failed) {
        ADD_FAILURE() << c.name << ": Jinja2 raised " << expected << " but we rendered " << out;
      } else if (std::string(c.name).rfind("syntax_", 0) == 0) {
        if (error.substr(0, error.find(':')) == expected.substr(0, expected.find(':')))
          ++passed;
        else
          ADD_FAILURE() << c.name << ": expected " << expected << ", got " << error;
      } else if (error != expected) {
        ADD_FAILURE() << c.name << ": expected error\n  " << expected << "\ngot\n  " << error;
      } else {
        ++passed;
      }
    } else if (failed) {
      ADD_FAILURE() << c.name << ": unexpected error " << error
                    << "\nexpected: " << r["text"].dump();
    } else if (out != r["text"].get<std::string>()) {
      ADD_FAILURE() << c.name << ":\nexpected: " << r["text"].dump()
                    << "\ngot:      " << ordered_json(out).dump();
    } else {
      ++passed;
    }
  }
  std::printf("python3-jinja2 corpus: %d/%zu cases match\n", passed, std::size(kCases));
}

}  // namespace
}  // namespace osprey::jinja
