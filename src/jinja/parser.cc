#include "jinja/parser.h"

#include <charconv>
#include <cstdlib>
#include <initializer_list>

#include "jinja/error.h"

namespace osprey::jinja {
namespace {

constexpr int kMaxDepth = 200;  // nesting of expressions and blocks; bounds evaluator recursion too

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_template() {
    std::string end;
    Body body = subparse({}, end);
    return body;
  }

 private:
  // --- token helpers
  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(p_ + n, t_.size() - 1)]; }
  void next() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const std::string& msg) const { throw TemplateError("TemplateSyntaxError", msg, cur().line); }
  std::string describe() const {
    switch (cur().type) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "end of statement block";
      case Tok::kVarEnd: return "end of print statement";
      case Tok::kText: return "template data";
      default: return "'" + cur().value + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected token '") + op + "', got " + describe());
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) fail("expected name, got " + describe());
    std::string n = cur().value;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) fail("expected end of statement block, got " + describe());
    next();
  }
  NodePtr node(NodeKind k) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = cur().line;
    return n;
  }
  struct DepthGuard {
    DepthGuard(Parser& p) : p(p) {
      if (++p.depth_ > kMaxDepth) p.fail("template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
    Parser& p;
  };

  // --- statements
  // Parses until one of `ends` is the next block tag (left as the current token: its name).
  Body subparse(std::initializer_list<const char*> ends, std::string& end_found) {
    DepthGuard g(*this);
    Body body;
    for (;;) {
      switch (cur().type) {
        case Tok::kEof:
          if (ends.size() == 0) return body;
          fail(std::string("Unexpected end of template. Jinja was looking for the following tags: '") + *ends.begin() + "'.");
        case Tok::kText: {
          auto n = node(NodeKind::kText);
          n->name = cur().value;
          body.push_back(std::move(n));
          next();
          break;
        }
        case Tok::kVarBegin: {
          next();
          auto n = node(NodeKind::kOutput);
          n->a = parse_tuple();
          if (cur().type != Tok::kVarEnd) fail("expected end of print statement, got " + describe());
          next();
          body.push_back(std::move(n));
          break;
        }
        case Tok::kBlockBegin: {
          next();
          if (cur().type == Tok::kName) {
            for (const char* e : ends) {
              if (cur().value == e) {
                end_found = e;
                next();
                return body;
              }
            }
          }
          body.push_back(statement());
          break;
        }
        default: fail("unexpected " + describe());
      }
    }
  }

  NodePtr statement() {
    if (cur().type != Tok::kName) fail("tag name expected");
    const std::string tag = cur().value;
    if (tag == "if") {
      next();
      return parse_if();
    }
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") {  // Hugging Face's assistant-mask marker: renders its body as is
      next();
      expect_block_end();
      auto n = node(NodeKind::kIf);
      n->a = const_node(Value(true));
      std::string end;
      n->body = subparse({"endgeneration"}, end);
      expect_block_end();
      return n;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop");
      auto n = node(tag == "break" ? NodeKind::kBreak : NodeKind::kContinue);
      next();
      expect_block_end();
      return n;
    }
    fail("Encountered unknown tag '" + tag + "'.");
  }

  NodePtr const_node(Value v) {
    auto n = node(NodeKind::kConst);
    n->value = std::move(v);
    return n;
  }

  // After `if` or `elif`.
  NodePtr parse_if() {
    auto n = node(NodeKind::kIf);
    n->a = parse_tuple();
    expect_block_end();
    std::string end;
    n->body = subparse({"elif", "else", "endif"}, end);
    if (end == "elif") {
      n->else_body.push_back(parse_if());  // consumes through endif
      return n;
    }
    if (end == "else") {
      expect_block_end();
      n->else_body = subparse({"endif"}, end);
    }
    expect_block_end();
    return n;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = skip_op("(");
    do {
      names.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return names;
  }

  NodePtr parse_for() {
    auto n = node(NodeKind::kFor);
    next();
    n->targets = parse_targets();
    if (!skip_name("in")) fail("expected 'in', got " + describe());
    n->a = parse_tuple(/*no_condexpr=*/true);
    if (skip_name("if")) n->b = parse_tuple();
    if (skip_name("recursive")) n->flag = true;
    expect_block_end();
    std::string end;
    ++loop_depth_;
    n->body = subparse({"endfor", "else"}, end);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      n->else_body = subparse({"endfor"}, end);
    }
    expect_block_end();
    return n;
  }

  NodePtr parse_set() {
    const int line = cur().line;
    next();
    NodePtr target;
    if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().value == ".") {
      target = node(NodeKind::kGetattr);
      target->a = node(NodeKind::kName);
      target->a->name = expect_name();
      next();
      target->name = expect_name();
    } else {
      target = node(NodeKind::kTuple);
      target->targets = parse_targets();
    }
    if (skip_op("=")) {
      auto n = node(NodeKind::kSet);
      n->line = line;
      n->a = std::move(target);
      n->b = parse_tuple();
      expect_block_end();
      return n;
    }
    auto n = node(NodeKind::kSetBlock);
    n->line = line;
    n->a = std::move(target);
    while (skip_op("|")) n->items.push_back(parse_filter(nullptr));
    expect_block_end();
    std::string end;
    n->body = subparse({"endset"}, end);
    expect_block_end();
    return n;
  }

  void parse_signature(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n.params.empty()) expect_op(",");
      if (is_op(")")) break;
      n.params.push_back(expect_name());
      n.defaults.push_back(skip_op("=") ? parse_expression() : nullptr);
    }
    expect_op(")");
  }

  NodePtr parse_macro() {
    auto n = node(NodeKind::kMacro);
    next();
    n->name = expect_name();
    parse_signature(*n);
    expect_block_end();
    std::string end;
    const int saved = loop_depth_;
    loop_depth_ = 0;
    n->body = subparse({"endmacro"}, end);
    loop_depth_ = saved;
    expect_block_end();
    return n;
  }

  NodePtr parse_call_block() {
    auto n = node(NodeKind::kCallBlock);
    next();
    if (is_op("(")) parse_signature(*n);
    n->a = parse_expression();
    if (n->a->kind != NodeKind::kCall) fail("expected call");
    expect_block_end();
    std::string end;
    n->body = subparse({"endcall"}, end);
    expect_block_end();
    return n;
  }

  NodePtr parse_filter_block() {
    auto n = node(NodeKind::kFilterBlock);
    next();
    do {
      n->items.push_back(parse_filter(nullptr));
    } while (skip_op("|"));
    expect_block_end();
    std::string end;
    n->body = subparse({"endfilter"}, end);
    expect_block_end();
    return n;
  }

  NodePtr parse_with() {
    auto n = node(NodeKind::kWith);
    next();
    while (cur().type != Tok::kBlockEnd) {
      if (!n->targets.empty()) expect_op(",");
      n->targets.push_back(expect_name());
      expect_op("=");
      n->items.push_back(parse_expression());
    }
    expect_block_end();
    std::string end;
    n->body = subparse({"endwith"}, end);
    expect_block_end();
    return n;
  }

  // --- expressions, lowest precedence first
  NodePtr parse_tuple(bool no_condexpr = false) {
    auto first = no_condexpr ? parse_or() : parse_expression();
    if (!is_op(",")) return first;
    auto t = node(NodeKind::kTuple);
    t->items.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().type == Tok::kBlockEnd || cur().type == Tok::kVarEnd || is_op(")")) break;
      if (no_condexpr && is_name("if")) break;
      t->items.push_back(no_condexpr ? parse_or() : parse_expression());
    }
    return t;
  }

  NodePtr parse_expression() {
    DepthGuard g(*this);
    auto expr = parse_or();
    while (is_name("if")) {
      auto n = node(NodeKind::kCondExpr);
      next();
      n->b = std::move(expr);
      n->a = parse_or();
      if (skip_name("else")) n->c = parse_expression();
      expr = std::move(n);
    }
    return expr;
  }

  NodePtr binary(const std::string& op, NodePtr l, NodePtr r) {
    auto n = node(NodeKind::kBinary);
    n->name = op;
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  NodePtr parse_or() {
    auto l = parse_and();
    while (skip_name("or")) l = binary("or", std::move(l), parse_and());
    return l;
  }
  NodePtr parse_and() {
    auto l = parse_not();
    while (skip_name("and")) l = binary("and", std::move(l), parse_not());
    return l;
  }
  NodePtr parse_not() {
    if (is_name("not")) {
      DepthGuard g(*this);
      auto n = node(NodeKind::kUnary);
      next();
      n->name = "not";
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  NodePtr parse_compare() {
    auto first = parse_math1();
    NodePtr cmp;
    for (;;) {
      std::string op;
      if (cur().type == Tok::kOp &&
          (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == "<=" ||
           cur().value == ">" || cur().value == ">=")) {
        op = cur().value;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == Tok::kName && peek().value == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(NodeKind::kCompare);
        cmp->items.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->items.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }
  NodePtr parse_math1() {
    auto l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().value;
      next();
      l = binary(op, std::move(l), parse_concat());
    }
    return l;
  }
  NodePtr parse_concat() {
    auto l = parse_math2();
    while (skip_op("~")) l = binary("~", std::move(l), parse_math2());
    return l;
  }
  NodePtr parse_math2() {
    auto l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().value;
      next();
      l = binary(op, std::move(l), parse_pow());
    }
    return l;
  }
  NodePtr parse_pow() {
    auto l = parse_unary();
    while (skip_op("**")) l = binary("**", std::move(l), parse_unary());  // left-assoc, as Jinja2
    return l;
  }
  NodePtr parse_unary(bool with_filter = true) {
    DepthGuard g(*this);
    NodePtr n;
    if (is_op("-") || is_op("+")) {
      n = node(NodeKind::kUnary);
      n->name = cur().value;
      next();
      n->a = parse_unary(false);
    } else {
      n = parse_primary();
    }
    n = parse_postfix(std::move(n));
    if (with_filter) n = parse_filter_expr(std::move(n));
    return n;
  }

  NodePtr parse_primary() {
    const Token& tk = cur();
    switch (tk.type) {
      case Tok::kName: {
        const std::string& v = tk.value;
        NodePtr n;
        if (v == "true" || v == "True") {
          n = const_node(Value(true));
        } else if (v == "false" || v == "False") {
          n = const_node(Value(false));
        } else if (v == "none" || v == "None") {
          n = const_node(Value::none());
        } else {
          n = node(NodeKind::kName);
          n->name = v;
        }
        next();
        return n;
      }
      case Tok::kString: {
        std::string s;
        const int line = tk.line;
        while (cur().type == Tok::kString) {  // adjacent literals concatenate, as in Python
          s += cur().value;
          next();
        }
        auto n = const_node(Value(std::move(s)));
        n->line = line;
        return n;
      }
      case Tok::kInt: {
        int64_t v = 0;
        auto r = std::from_chars(tk.value.data(), tk.value.data() + tk.value.size(), v);
        if (r.ec != std::errc()) fail("integer literal too large");
        next();
        return const_node(Value(v));
      }
      case Tok::kFloat: {
        const double v = std::strtod(tk.value.c_str(), nullptr);
        next();
        return const_node(Value(v));
      }
      case Tok::kOp:
        if (tk.value == "(") {
          next();
          if (skip_op(")")) {
            auto t = node(NodeKind::kTuple);
            return t;
          }
          auto e = parse_expression();
          if (is_op(",")) {
            auto t = node(NodeKind::kTuple);
            t->items.push_back(std::move(e));
            while (skip_op(",")) {
              if (is_op(")")) break;
              t->items.push_back(parse_expression());
            }
            e = std::move(t);
          }
          expect_op(")");
          return e;
        }
        if (tk.value == "[") {
          auto n = node(NodeKind::kList);
          next();
          while (!is_op("]")) {
            if (!n->items.empty()) expect_op(",");
            if (is_op("]")) break;
            n->items.push_back(parse_expression());
          }
          expect_op("]");
          return n;
        }
        if (tk.value == "{") {
          auto n = node(NodeKind::kDict);
          next();
          while (!is_op("}")) {
            if (!n->items.empty()) expect_op(",");
            if (is_op("}")) break;
            n->items.push_back(parse_expression());
            expect_op(":");
            n->items.push_back(parse_expression());
          }
          expect_op("}");
          return n;
        }
        break;
      default: break;
    }
    fail("unexpected " + describe());
  }

  NodePtr parse_postfix(NodePtr n) {
    for (;;) {
      if (is_op(".")) {
        next();
        auto g = node(NodeKind::kGetattr);
        if (cur().type == Tok::kInt) {  // x.0 is x[0]
          g->kind = NodeKind::kGetitem;
          g->b = const_node(Value(static_cast<int64_t>(std::atoll(cur().value.c_str()))));
          next();
        } else {
          g->name = expect_name();
        }
        g->a = std::move(n);
        n = std::move(g);
      } else if (is_op("[")) {
        n = parse_subscript(std::move(n));
      } else if (is_op("(")) {
        n = parse_call(std::move(n));
      } else {
        return n;
      }
    }
  }

  NodePtr parse_subscript(NodePtr obj) {
    auto n = node(NodeKind::kGetitem);
    next();
    n->a = std::move(obj);
    NodePtr start;
    if (!is_op(":")) start = parse_expression();
    if (is_op(":")) {
      n->kind = NodeKind::kSlice;
      n->b = std::move(start);
      next();
      if (!is_op("]") && !is_op(":")) n->c = parse_expression();
      if (skip_op(":") && !is_op("]")) n->d = parse_expression();
    } else {
      if (is_op(",")) {  // x[a, b] indexes with a tuple
        auto t = node(NodeKind::kTuple);
        t->items.push_back(std::move(start));
        while (skip_op(",") && !is_op("]")) t->items.push_back(parse_expression());
        start = std::move(t);
      }
      n->b = std::move(start);
    }
    expect_op("]");
    return n;
  }

  void parse_args(Node& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n.items.empty() || !n.kwargs.empty()) expect_op(",");
      if (is_op(")")) break;
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().value == "=") {
        n.kwnames.push_back(cur().value);
        next();
        next();
        n.kwargs.push_back(parse_expression());
      } else {
        if (!n.kwargs.empty()) fail("positional argument follows keyword argument");
        n.items.push_back(parse_expression());
      }
    }
    expect_op(")");
  }

  NodePtr parse_call(NodePtr callee) {
    DepthGuard g(*this);
    auto n = node(NodeKind::kCall);
    n->a = std::move(callee);
    parse_args(*n);
    return n;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == Tok::kName) {
      next();
      name += "." + expect_name();
    }
    return name;
  }

  NodePtr parse_filter(NodePtr obj) {
    DepthGuard g(*this);
    auto n = node(NodeKind::kFilter);
    n->name = dotted_name();
    n->a = std::move(obj);
    if (is_op("(")) parse_args(*n);
    return n;
  }

  NodePtr parse_filter_expr(NodePtr n) {
    for (;;) {
      if (skip_op("|")) {
        n = parse_filter(std::move(n));
      } else if (is_name("is")) {
        DepthGuard g(*this);
        next();
        auto t = node(NodeKind::kTest);
        t->flag = skip_name("not");
        t->name = dotted_name();
        t->a = std::move(n);
        if (is_op("(")) {
          parse_args(*t);
        } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
                    cur().type == Tok::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail("You cannot chain multiple tests with is");
          t->items.push_back(parse_postfix(parse_primary()));
        }
        n = std::move(t);
      } else if (is_op("(")) {
        n = parse_call(std::move(n));
      } else {
        return n;
      }
    }
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse(std::string_view source, const LexOptions& opts) { return Parser(tokenize(source, opts)).parse_template(); }

}  // namespace osprey::jinja
