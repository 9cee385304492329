// Internal to the parser: the recursive-descent Parser, whose statement rules live in parser.cc and
// whose expression rules (Jinja2's precedence climbing) live in parser_expr.cc.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "jinja/ast.h"
#include "jinja/error.h"
#include "jinja/lexer.h"

namespace osprey::jinja::detail {

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
  [[noreturn]] void fail(const std::string& msg) const {
    throw TemplateError("TemplateSyntaxError", msg, cur().line);
  }
  std::string describe() const {
    switch (cur().type) {
      case Tok::kEof:
        return "end of template";
      case Tok::kBlockEnd:
        return "end of statement block";
      case Tok::kVarEnd:
        return "end of print statement";
      case Tok::kText:
        return "template data";
      default:
        return "'" + cur().value + "'";
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
  // Loops that wrap the node built so far (a + b + c, x|f|g, a.b.c) deepen the tree without
  // recursing here: count each wrap against the same bound, so that later tree walks stay shallow.
  struct ChainGuard {
    explicit ChainGuard(Parser& p) : p(p) {}
    void add() {
      ++n;
      if (++p.depth_ > kMaxDepth) p.fail("template nested too deeply");
    }
    ~ChainGuard() { p.depth_ -= n; }
    Parser& p;
    int n = 0;
  };

  // --- statements
  Body subparse(std::initializer_list<const char*> ends, std::string& end_found);
  NodePtr statement();
  NodePtr const_node(Value v);
  NodePtr parse_if();
  std::vector<std::string> parse_targets();
  NodePtr parse_for();
  NodePtr parse_set();
  void parse_signature(Node& n);
  NodePtr parse_macro();
  NodePtr parse_call_block();
  NodePtr parse_filter_block();
  NodePtr parse_with();

  // --- expressions, lowest precedence first
  NodePtr parse_tuple(bool no_condexpr = false);
  NodePtr parse_expression();
  NodePtr binary(const std::string& op, NodePtr l, NodePtr r);
  NodePtr parse_or();
  NodePtr parse_and();
  NodePtr parse_not();
  NodePtr parse_compare();
  NodePtr parse_math1();
  NodePtr parse_concat();
  NodePtr parse_math2();
  NodePtr parse_pow();
  NodePtr parse_unary(bool with_filter = true);
  NodePtr parse_primary();
  NodePtr parse_postfix(NodePtr n);
  NodePtr parse_subscript(NodePtr obj);
  void parse_args(Node& n);
  NodePtr parse_call(NodePtr callee);
  std::string dotted_name();
  NodePtr parse_filter(NodePtr obj);
  NodePtr parse_filter_expr(NodePtr n);

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace osprey::jinja::detail
