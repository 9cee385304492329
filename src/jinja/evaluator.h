// Walks the AST and renders it. One Evaluator per render: it holds the mutable state (scopes,
// output, budgets) while the AST stays shared and read-only.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jinja/ast.h"
#include "jinja/value.h"

namespace osprey::jinja {

// Bounds that keep hostile templates from running forever or exhausting memory.
struct Limits {
  size_t max_output = 64u << 20;    // bytes of rendered text (and of any one string built)
  uint64_t max_steps = 50'000'000;  // statements + expressions evaluated
  int max_depth = 1000;             // nested evaluation, macro recursion included
};

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* lookup(const std::string& name) const;
};
using ScopePtr = std::shared_ptr<Scope>;

class Evaluator {
 public:
  explicit Evaluator(const Limits& limits) : limits_(limits) {}

  // Renders `body` with `context` (a dict value) as the template's variables.
  std::string render(const Body& body, const Value& context);

  // Calls a callable value (function, macro, bound method); errors like Python for the rest.
  Value call(const Value& fn, Args& args);
  // Jinja2's environment.getattr / getitem, including the immutable sandbox's refusals.
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  // Python's iter(): the elements of a list, the keys of a dict, the characters of a string.
  List iterate(const Value& v);
  // A string built by a filter or operator: refused if it would exceed the output bound.
  void check_size(size_t n) const;
  void step();
  // Objects that may end up referring to themselves (namespaces): emptied when the render ends.
  void track(const Value& v);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  friend struct DepthGuard;

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec(const Node& n, const ScopePtr& scope, std::string& out);
  Flow exec_for(const Node& n, const ScopePtr& scope, std::string& out);
  void exec_set(const Node& target, const Value& v, const ScopePtr& scope);
  Value eval(const Node& n, const ScopePtr& scope);
  Value eval_binary(const Node& n, const ScopePtr& scope);
  Value eval_compare(const Node& n, const ScopePtr& scope);
  Value eval_call(const Node& n, const ScopePtr& scope);
  Value apply_filters(const std::vector<NodePtr>& chain, Value v, const ScopePtr& scope);
  void eval_args(const Node& n, const ScopePtr& scope, Args& args);
  Value make_macro(const Node& n, const ScopePtr& scope, const std::string& name);
  Value lookup(const std::string& name, const ScopePtr& scope) const;

  Limits limits_;
  uint64_t steps_ = 0;
  int depth_ = 0;
  Value globals_;
  std::vector<ScopePtr> macro_scopes_;
  std::vector<std::shared_ptr<Dict>> tracked_;
  std::vector<std::shared_ptr<std::optional<Value>>> changed_;
};

// Binary operators shared with filters (sum uses +).
Value binary_op(const std::string& op, const Value& a, const Value& b, const Evaluator& ev);
bool contains(const Value& container, const Value& item);

}  // namespace osprey::jinja
