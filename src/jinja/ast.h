// The parsed template. One generic node type keeps parser and evaluator short; the comment on each
// kind says which fields it uses. A parsed tree is never modified, so renders can share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "jinja/value.h"

namespace osprey::jinja {

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  // Expressions
  kConst,     // value
  kName,      // name
  kList,      // items
  kTuple,     // items
  kDict,      // items = key0, value0, key1, value1, ...
  kGetattr,   // a.name
  kGetitem,   // a[b]
  kSlice,     // a[b:c:d], any of b, c, d may be null
  kCall,      // a(items, kwnames=kwargs)
  kFilter,    // a|name(items, kwnames=kwargs); a is null in {% filter %} and block set
  kTest,      // a is [not: flag] name(items, kwnames=kwargs)
  kUnary,     // name ("-", "+", "not") a
  kBinary,    // a name b, name in + - * / // % ** ~ and or
  kCompare,   // items[0] ops[0] items[1] ops[1] items[2] ...
  kCondExpr,  // b if a else c (c may be null)
  // Statements
  kText,         // name = literal output
  kOutput,       // {{ a }}
  kIf,           // if a: body else: else_body (elif nests an If in else_body)
  kFor,          // for targets in a [if b]: body else: else_body; flag = recursive
  kSet,          // set a = b (a is Name, Tuple of Names, or Getattr on a namespace)
  kSetBlock,     // set a [| filters in items]: body
  kMacro,        // macro name(params = defaults): body
  kCallBlock,    // call(params = defaults) a: body
  kFilterBlock,  // filter items (chain of kFilter with null a): body
  kWith,         // with targets = items: body
  kBreak,
  kContinue,
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string name;
  Value value;
  NodePtr a, b, c, d;
  std::vector<NodePtr> items;
  std::vector<std::string> kwnames;
  std::vector<NodePtr> kwargs;
  std::vector<std::string> ops;
  std::vector<std::string> params;
  std::vector<NodePtr> defaults;  // parallel to params; null where no default
  std::vector<std::string> targets;
  Body body, else_body;
  bool flag = false;
};

}  // namespace osprey::jinja
