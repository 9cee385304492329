#include "jinja/parser.h"

#include "jinja/parser_impl.h"

namespace osprey::jinja {
namespace detail {

Body Parser::subparse(std::initializer_list<const char*> ends, std::string& end_found) {
  DepthGuard g(*this);
  Body body;
  for (;;) {
    switch (cur().type) {
      case Tok::kEof:
        if (ends.size() == 0) return body;
        fail(
            std::string("Unexpected end of template. Jinja was looking for the following tags: '") +
            *ends.begin() + "'.");
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
      default:
        fail("unexpected " + describe());
    }
  }
}

NodePtr Parser::statement() {
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

NodePtr Parser::const_node(Value v) {
  auto n = node(NodeKind::kConst);
  n->value = std::move(v);
  return n;
}

NodePtr Parser::parse_if() {
  DepthGuard g(*this);  // elif chains nest
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

std::vector<std::string> Parser::parse_targets() {
  std::vector<std::string> names;
  const bool paren = skip_op("(");
  do {
    names.push_back(expect_name());
  } while (skip_op(","));
  if (paren) expect_op(")");
  return names;
}

NodePtr Parser::parse_for() {
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

NodePtr Parser::parse_set() {
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

void Parser::parse_signature(Node& n) {
  expect_op("(");
  while (!is_op(")")) {
    if (!n.params.empty()) expect_op(",");
    if (is_op(")")) break;
    n.params.push_back(expect_name());
    n.defaults.push_back(skip_op("=") ? parse_expression() : nullptr);
  }
  expect_op(")");
}

NodePtr Parser::parse_macro() {
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

NodePtr Parser::parse_call_block() {
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

NodePtr Parser::parse_filter_block() {
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

NodePtr Parser::parse_with() {
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

}  // namespace detail

Body parse(std::string_view source, const LexOptions& opts) {
  return detail::Parser(tokenize(source, opts)).parse_template();
}

}  // namespace osprey::jinja
