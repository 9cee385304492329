#include "jinja/evaluator.h"

#include <optional>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {

const Value* Scope::lookup(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

// Counts nesting of evaluation so that deep recursion (macros calling themselves) fails cleanly.
struct DepthGuard {
  explicit DepthGuard(Evaluator& e) : e(e) {
    if (++e.depth_ > e.limits_.max_depth) {
      --e.depth_;
      raise("RecursionError", "maximum recursion depth exceeded");
    }
  }
  ~DepthGuard() { --e.depth_; }
  Evaluator& e;
};

void Evaluator::step() {
  if (++steps_ > limits_.max_steps)
    raise("TemplateRuntimeError", "template evaluation exceeded the step limit");
}

void Evaluator::check_size(size_t n) const {
  if (n > limits_.max_output) raise("MemoryError", "string or output exceeds the size limit");
}

std::string Evaluator::render(const Body& body, const Value& context) {
  auto root = std::make_shared<Scope>();
  for (auto& [k, v] : context.dict_ref().items)
    if (k.is_string()) root->vars[k.str()] = v;
  globals_ = make_globals();
  // Macros keep their defining scope alive and namespaces can hold themselves: reference cycles.
  // Emptying every scope and tracked object when the render ends (or fails) breaks them.
  struct Cleanup {
    Evaluator& ev;
    ScopePtr root;
    ~Cleanup() {
      root->vars.clear();
      for (auto& s : ev.macro_scopes_) s->vars.clear();
      for (auto& d : ev.tracked_) d->items.clear();
      for (auto& c : ev.changed_) c->reset();
    }
  } cleanup{*this, root};
  std::string out;
  exec_body(body, root, out);
  return out;
}

void Evaluator::track(const Value& v) {
  if (v.is_dict() || v.is_namespace()) tracked_.push_back(v.dict_ptr());
}

Value Evaluator::lookup(const std::string& name, const ScopePtr& scope) const {
  if (const Value* v = scope->lookup(name)) return *v;
  if (const Value* g = globals_.dict_ref().find(name)) return *g;
  return Value::undefined(repr_string(name) + " is undefined");
}

Evaluator::Flow Evaluator::exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& n : body) {
    Flow f = exec(*n, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Evaluator::Flow Evaluator::exec(const Node& n, const ScopePtr& scope, std::string& out) {
  DepthGuard g(*this);
  step();
  try {
    switch (n.kind) {
      case NodeKind::kText:
        out += n.name;
        check_size(out.size());
        return Flow::kNormal;
      case NodeKind::kOutput:
        out += eval(*n.a, scope).to_str();
        check_size(out.size());
        return Flow::kNormal;
      case NodeKind::kIf:
        return exec_body(eval(*n.a, scope).truthy() ? n.body : n.else_body, scope, out);
      case NodeKind::kFor:
        return exec_for(n, scope, out);
      case NodeKind::kSet:
        exec_set(*n.a, eval(*n.b, scope), scope);
        return Flow::kNormal;
      case NodeKind::kSetBlock: {
        std::string captured;
        exec_body(n.body, scope, captured);
        exec_set(*n.a, apply_filters(n.items, Value(std::move(captured)), scope), scope);
        return Flow::kNormal;
      }
      case NodeKind::kMacro:
        scope->vars[n.name] = make_macro(n, scope, n.name);
        return Flow::kNormal;
      case NodeKind::kCallBlock: {
        const Node& call = *n.a;
        Value fn = eval(*call.a, scope);
        Args args;
        eval_args(call, scope, args);
        args.kw.emplace_back("caller", make_macro(n, scope, "caller"));
        out += this->call(fn, args).to_str();
        check_size(out.size());
        return Flow::kNormal;
      }
      case NodeKind::kFilterBlock: {
        std::string captured;
        exec_body(n.body, scope, captured);
        out += apply_filters(n.items, Value(std::move(captured)), scope).to_str();
        check_size(out.size());
        return Flow::kNormal;
      }
      case NodeKind::kWith: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        for (size_t i = 0; i < n.targets.size(); ++i)
          inner->vars[n.targets[i]] = eval(*n.items[i], scope);
        return exec_body(n.body, inner, out);
      }
      case NodeKind::kBreak:
        return Flow::kBreak;
      case NodeKind::kContinue:
        return Flow::kContinue;
      default:
        raise("TemplateRuntimeError", "unexpected node in statement position");
    }
  } catch (const TemplateError& e) {
    if (e.line() == 0 && n.line > 0) throw e.with_line(n.line);
    throw;
  }
}

// Unpacks `v` into `names` the way Python's `a, b = v` does.
static void unpack(Evaluator& ev, const std::vector<std::string>& names, const Value& v,
                   Scope& into) {
  if (names.size() == 1) {
    into.vars[names[0]] = v;
    return;
  }
  if (!v.is_list() && !v.is_dict() && !v.is_string() && !v.is_undefined())
    type_error("cannot unpack non-iterable " + v.py_type() + " object");
  List items = ev.iterate(v);
  if (items.size() < names.size())
    raise("ValueError", fmt::format("not enough values to unpack (expected {}, got {})",
                                    names.size(), items.size()));
  if (items.size() > names.size())
    raise("ValueError", fmt::format("too many values to unpack (expected {})", names.size()));
  for (size_t i = 0; i < names.size(); ++i) into.vars[names[i]] = items[i];
}

void Evaluator::exec_set(const Node& target, const Value& v, const ScopePtr& scope) {
  if (target.kind == NodeKind::kGetattr) {
    Value obj = lookup(target.a->name, scope);
    if (!obj.is_namespace())
      raise("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
    obj.dict_ref().set(Value(target.name), v);
    return;
  }
  unpack(*this, target.targets, v, *scope);
}

// Does `body` read the variable `name`? Jinja2 lets a macro take extra arguments only if it does.
static bool references(const Node& n, const std::string& name);
static bool references(const Body& body, const std::string& name) {
  for (const auto& c : body)
    if (references(*c, name)) return true;
  return false;
}
static bool references(const Node& n, const std::string& name) {
  if (n.kind == NodeKind::kName && n.name == name) return true;
  for (const Node* c : {n.a.get(), n.b.get(), n.c.get(), n.d.get()})
    if (c && references(*c, name)) return true;
  for (const auto* v : {&n.items, &n.kwargs, &n.defaults})
    for (const auto& c : *v)
      if (c && references(*c, name)) return true;
  return references(n.body, name) || references(n.else_body, name);
}

Evaluator::Flow Evaluator::exec_for(const Node& n, const ScopePtr& scope, std::string& out) {
  List all = iterate(eval(*n.a, scope));
  List items;
  if (n.b) {  // `for x in xs if cond`: filter first, so that loop.length counts what is iterated
    for (auto& item : all) {
      auto probe = std::make_shared<Scope>();
      probe->parent = scope;
      unpack(*this, n.targets, item, *probe);
      if (eval(*n.b, probe).truthy()) items.push_back(std::move(item));
    }
  } else {
    items = std::move(all);
  }
  if (items.empty()) return exec_body(n.else_body, scope, out);
  const int64_t len = static_cast<int64_t>(items.size());
  // Building `loop` costs more than most loop bodies: skip it where the body never reads it.
  const bool wants_loop = references(n.body, "loop");
  auto last =
      std::make_shared<std::optional<Value>>();  // shared by all iterations, for loop.changed
  if (wants_loop) changed_.push_back(last);
  for (int64_t i = 0; i < len; ++i) {
    step();
    auto iter = std::make_shared<Scope>();
    iter->parent = scope;
    unpack(*this, n.targets, items[i], *iter);
    if (!wants_loop) {
      if (exec_body(n.body, iter, out) == Flow::kBreak) break;
      continue;
    }
    Dict loop;
    loop.set(Value("index"), Value(i + 1));
    loop.set(Value("index0"), Value(i));
    loop.set(Value("revindex"), Value(len - i));
    loop.set(Value("revindex0"), Value(len - i - 1));
    loop.set(Value("first"), Value(i == 0));
    loop.set(Value("last"), Value(i == len - 1));
    loop.set(Value("length"), Value(len));
    loop.set(Value("depth"), Value(int64_t{1}));  // only recursive loops go deeper
    loop.set(Value("depth0"), Value(int64_t{0}));
    loop.set(Value("previtem"),
             i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    loop.set(Value("nextitem"),
             i + 1 < len ? items[i + 1] : Value::undefined("there is no next item"));
    loop.set(Value("cycle"), Value::function("cycle", [i](Evaluator&, Args& a) -> Value {
               if (a.pos.empty()) type_error("no items for cycling given");
               return a.pos[i % a.pos.size()];
             }));
    // loop.changed(*values): true the first time and whenever the values differ from the last call.
    loop.set(Value("changed"), Value::function("changed", [last](Evaluator&, Args& a) -> Value {
               Value now = Value::list(a.pos);
               if (last->has_value() && equals(**last, now)) return Value(false);
               *last = now;
               return Value(true);
             }));
    iter->vars["loop"] = Value::dict(std::move(loop));
    if (exec_body(n.body, iter, out) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Evaluator::make_macro(const Node& n, const ScopePtr& scope, const std::string& name) {
  macro_scopes_.push_back(scope);
  const Node* def = &n;
  ScopePtr defining = scope;
  const bool uses_kwargs = references(n.body, "kwargs");
  const bool uses_varargs = references(n.body, "varargs");
  return Value::function(
      name, [def, defining, name, uses_kwargs, uses_varargs](Evaluator& ev, Args& args) -> Value {
        auto local = std::make_shared<Scope>();
        local->parent = defining;
        const size_t np = def->params.size();
        if (args.pos.size() > np && !uses_varargs)
          type_error("macro '" + name + "' takes not more than " + std::to_string(np) +
                     " argument(s)");
        List varargs;
        for (size_t i = 0; i < args.pos.size(); ++i) {
          if (i < np) {
            local->vars[def->params[i]] = args.pos[i];
          } else {
            varargs.push_back(args.pos[i]);
          }
        }
        Dict kwargs;
        for (auto& [k, v] : args.kw) {
          bool is_param = false;
          for (size_t i = 0; i < np; ++i) {
            if (def->params[i] != k) continue;
            if (i < args.pos.size())
              type_error("macro '" + name + "' takes no keyword argument '" + k + "'");
            is_param = true;
          }
          if (is_param || k == "caller") {
            local->vars[k] = v;
          } else if (!uses_kwargs) {
            type_error("macro '" + name + "' takes no keyword argument '" + k + "'");
          } else {
            kwargs.set(Value(k), v);
          }
        }
        for (size_t i = 0; i < np; ++i) {
          if (local->vars.count(def->params[i])) continue;
          local->vars[def->params[i]] =
              def->defaults[i] ? ev.eval(*def->defaults[i], local)
                               : Value::undefined("parameter " + repr_string(def->params[i]) +
                                                  " was not provided");
        }
        local->vars["varargs"] = Value::list(std::move(varargs), true);
        local->vars["kwargs"] = Value::dict(std::move(kwargs));
        std::string out;
        ev.exec_body(def->body, local, out);
        return Value(std::move(out));
      });
}

Value Evaluator::call(const Value& fn, Args& args) {
  if (fn.is_callable()) return fn.callable().fn(*this, args);
  if (fn.is_undefined()) {
    raise(fn.undefined_info().security ? "SecurityError" : "UndefinedError",
          fn.undefined_info().message);
  }
  type_error("'" + fn.py_type() + "' object is not callable");
}

void Evaluator::eval_args(const Node& n, const ScopePtr& scope, Args& args) {
  for (const auto& a : n.items) args.pos.push_back(eval(*a, scope));
  for (size_t i = 0; i < n.kwargs.size(); ++i)
    args.kw.emplace_back(n.kwnames[i], eval(*n.kwargs[i], scope));
}

Value Evaluator::apply_filters(const std::vector<NodePtr>& chain, Value v, const ScopePtr& scope) {
  for (const auto& f : chain) {
    Args args;
    eval_args(*f, scope, args);
    v = apply_filter(*this, f->name, v, args);
  }
  return v;
}

Value Evaluator::eval(const Node& n, const ScopePtr& scope) {
  DepthGuard g(*this);
  step();
  switch (n.kind) {
    case NodeKind::kConst:
      return n.value;
    case NodeKind::kName:
      return lookup(n.name, scope);
    case NodeKind::kList:
    case NodeKind::kTuple: {
      List items;
      for (const auto& i : n.items) items.push_back(eval(*i, scope));
      return Value::list(std::move(items), n.kind == NodeKind::kTuple);
    }
    case NodeKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < n.items.size(); i += 2)
        d.set(eval(*n.items[i], scope), eval(*n.items[i + 1], scope));
      return Value::dict(std::move(d));
    }
    case NodeKind::kGetattr:
      return getattr(eval(*n.a, scope), n.name);
    case NodeKind::kGetitem:
      return getitem(eval(*n.a, scope), eval(*n.b, scope));
    case NodeKind::kSlice: {
      Value obj = eval(*n.a, scope);
      Value start = n.b ? eval(*n.b, scope) : Value::none();
      Value stop = n.c ? eval(*n.c, scope) : Value::none();
      Value stepv = n.d ? eval(*n.d, scope) : Value::none();
      return slice(obj, start, stop, stepv);
    }
    case NodeKind::kCall:
      return eval_call(n, scope);
    case NodeKind::kFilter: {
      Value v = eval(*n.a, scope);
      Args args;
      eval_args(n, scope, args);
      return apply_filter(*this, n.name, v, args);
    }
    case NodeKind::kTest: {
      Value v = eval(*n.a, scope);
      Args args;
      eval_args(n, scope, args);
      const bool r = apply_test(*this, n.name, v, args);
      return Value(n.flag ? !r : r);
    }
    case NodeKind::kUnary: {
      Value v = eval(*n.a, scope);
      if (n.name == "not") return Value(!v.truthy());
      if (v.is_undefined()) raise("UndefinedError", v.undefined_info().message);
      if (!v.is_number())
        type_error("bad operand type for unary " + n.name + ": '" + v.py_type() + "'");
      if (n.name == "+") return v.is_float() ? v : Value(v.as_int());
      if (v.is_float()) return Value(-v.as_float());
      if (v.as_int() == INT64_MIN) raise("OverflowError", "integer overflow");
      return Value(-v.as_int());
    }
    case NodeKind::kBinary:
      return eval_binary(n, scope);
    case NodeKind::kCompare:
      return eval_compare(n, scope);
    case NodeKind::kCondExpr:
      if (eval(*n.a, scope).truthy()) return eval(*n.b, scope);
      return n.c ? eval(*n.c, scope)
                 : Value::undefined("the inline if-expression on line " + std::to_string(n.line) +
                                    " evaluated to false and no else section was defined.");
    default:
      raise("TemplateRuntimeError", "unexpected node in expression position");
  }
}

Value Evaluator::eval_call(const Node& n, const ScopePtr& scope) {
  Value fn = eval(*n.a, scope);
  Args args;
  eval_args(n, scope, args);
  return call(fn, args);
}

Value Evaluator::eval_binary(const Node& n, const ScopePtr& scope) {
  Value a = eval(*n.a, scope);
  if (n.name == "and") return a.truthy() ? eval(*n.b, scope) : a;
  if (n.name == "or") return a.truthy() ? a : eval(*n.b, scope);
  Value b = eval(*n.b, scope);
  return binary_op(n.name, a, b, *this);
}

Value Evaluator::eval_compare(const Node& n, const ScopePtr& scope) {
  Value left = eval(*n.items[0], scope);
  for (size_t i = 0; i < n.ops.size(); ++i) {
    Value right = eval(*n.items[i + 1], scope);
    const std::string& op = n.ops[i];
    bool r = false;
    try {
      if (op == "==") {
        r = equals(left, right);
      } else if (op == "!=") {
        r = !equals(left, right);
      } else if (op == "<") {
        r = less(left, right);
      } else if (op == ">") {
        r = less(right, left);
      } else if (op == "<=") {
        r = !less(right, left);
      } else if (op == ">=") {
        r = !less(left, right);
      } else if (op == "in") {
        r = contains(right, left);
      } else {
        r = !contains(right, left);
      }
    } catch (const TemplateError& e) {
      // less() words its error for a < b; Python names the operator written, operands in order.
      if (e.type() != "TypeError" || op == "in" || op == "not in") throw;
      type_error("'" + op + "' not supported between instances of '" + left.py_type() + "' and '" +
                 right.py_type() + "'");
    }
    if (!r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace osprey::jinja
