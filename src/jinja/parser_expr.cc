// Expression rules, lowest precedence first, as in Jinja2's parser.
#include <charconv>
#include <cstdlib>

#include "jinja/parser_impl.h"

namespace osprey::jinja::detail {

NodePtr Parser::parse_tuple(bool no_condexpr) {
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

NodePtr Parser::parse_expression() {
  DepthGuard g(*this);
  auto expr = parse_or();
  ChainGuard chain(*this);
  while (is_name("if")) {
    chain.add();
    auto n = node(NodeKind::kCondExpr);
    next();
    n->b = std::move(expr);
    n->a = parse_or();
    if (skip_name("else")) n->c = parse_expression();
    expr = std::move(n);
  }
  return expr;
}

NodePtr Parser::binary(const std::string& op, NodePtr l, NodePtr r) {
  auto n = node(NodeKind::kBinary);
  n->name = op;
  n->a = std::move(l);
  n->b = std::move(r);
  return n;
}

NodePtr Parser::parse_or() {
  auto l = parse_and();
  ChainGuard chain(*this);
  while (skip_name("or")) {
    chain.add();
    l = binary("or", std::move(l), parse_and());
  }
  return l;
}

NodePtr Parser::parse_and() {
  auto l = parse_not();
  ChainGuard chain(*this);
  while (skip_name("and")) {
    chain.add();
    l = binary("and", std::move(l), parse_not());
  }
  return l;
}

NodePtr Parser::parse_not() {
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

NodePtr Parser::parse_compare() {
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

NodePtr Parser::parse_math1() {
  auto l = parse_concat();
  ChainGuard chain(*this);
  while (is_op("+") || is_op("-")) {
    chain.add();
    std::string op = cur().value;
    next();
    l = binary(op, std::move(l), parse_concat());
  }
  return l;
}

NodePtr Parser::parse_concat() {
  auto l = parse_math2();
  ChainGuard chain(*this);
  while (skip_op("~")) {
    chain.add();
    l = binary("~", std::move(l), parse_math2());
  }
  return l;
}

NodePtr Parser::parse_math2() {
  auto l = parse_pow();
  ChainGuard chain(*this);
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    chain.add();
    std::string op = cur().value;
    next();
    l = binary(op, std::move(l), parse_pow());
  }
  return l;
}

NodePtr Parser::parse_pow() {
  auto l = parse_unary();
  ChainGuard chain(*this);
  while (skip_op("**")) {  // left-associative, as in Jinja2
    chain.add();
    l = binary("**", std::move(l), parse_unary());
  }
  return l;
}

NodePtr Parser::parse_unary(bool with_filter) {
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

NodePtr Parser::parse_primary() {
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
    default:
      break;
  }
  fail("unexpected " + describe());
}

NodePtr Parser::parse_postfix(NodePtr n) {
  ChainGuard chain(*this);
  for (;;) {
    chain.add();
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

NodePtr Parser::parse_subscript(NodePtr obj) {
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

void Parser::parse_args(Node& n) {
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

NodePtr Parser::parse_call(NodePtr callee) {
  DepthGuard g(*this);
  auto n = node(NodeKind::kCall);
  n->a = std::move(callee);
  parse_args(*n);
  return n;
}

std::string Parser::dotted_name() {
  std::string name = expect_name();
  while (is_op(".") && peek().type == Tok::kName) {
    next();
    name += '.';
    name += expect_name();
  }
  return name;
}

NodePtr Parser::parse_filter(NodePtr obj) {
  DepthGuard g(*this);
  auto n = node(NodeKind::kFilter);
  n->name = dotted_name();
  n->a = std::move(obj);
  if (is_op("(")) parse_args(*n);
  return n;
}

NodePtr Parser::parse_filter_expr(NodePtr n) {
  ChainGuard chain(*this);
  for (;;) {
    chain.add();
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
      } else if ((cur().type == Tok::kName || cur().type == Tok::kString ||
                  cur().type == Tok::kInt || cur().type == Tok::kFloat || is_op("(") ||
                  is_op("[") || is_op("{")) &&
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

}  // namespace osprey::jinja::detail
