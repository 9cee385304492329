// Global functions every Jinja2 template sees: range, dict, namespace, cycler, joiner.
#include "jinja/builtins.h"
#include "jinja/error.h"

namespace osprey::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox refuses longer ranges (MAX_RANGE)

int64_t int_param(const Value& v) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  type_error("'" + v.py_type() + "' object cannot be interpreted as an integer");
}

Value g_range(Evaluator&, Args& a) {
  if (!a.kw.empty()) type_error("range() takes no keyword arguments");
  int64_t start = 0, stop = 0, step = 1;
  if (a.pos.size() == 1) {
    stop = int_param(a.pos[0]);
  } else if (a.pos.size() == 2 || a.pos.size() == 3) {
    start = int_param(a.pos[0]);
    stop = int_param(a.pos[1]);
    if (a.pos.size() == 3) step = int_param(a.pos[2]);
  } else {
    type_error("range expected 1 to 3 arguments, got " + std::to_string(a.pos.size()));
  }
  if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
  const long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                     : (static_cast<long double>(start) - stop - step - 1) / -step;
  if (count > kMaxRange)
    raise("OverflowError",
          "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
  return Value::list(std::move(out));
}

Dict from_args(Args& a, const char* fn) {
  Dict d;
  if (a.pos.size() > 1) type_error(std::string(fn) + " expected at most 1 argument");
  if (a.pos.size() == 1) {
    const Value& src = a.pos[0];
    if (src.is_dict() || src.is_namespace()) {
      d = src.dict_ref();
    } else if (src.is_list()) {
      for (const auto& pair : src.items()) {
        if (!pair.is_list() || pair.items().size() != 2)
          raise("ValueError", "dictionary update sequence element has wrong length");
        d.set(pair.items()[0], pair.items()[1]);
      }
    } else {
      type_error("'" + src.py_type() + "' object is not iterable");
    }
  }
  for (auto& [k, v] : a.kw) d.set(Value(k), v);
  return d;
}

Value g_cycler(Evaluator& ev, Args& a) {
  struct State {
    List items;
    size_t pos = 0;
  };
  if (a.pos.empty()) raise("RuntimeError", "at least one item has to be provided");
  auto st = std::make_shared<State>(State{a.pos, 0});
  Value obj = Value::ns();
  ev.track(obj);
  std::weak_ptr<Dict> self = obj.dict_ptr();  // weak: the dict holds these closures
  obj.dict_ref().set(Value("current"), st->items[0]);
  obj.dict_ref().set(Value("next"), Value::function("next", [st, self](Evaluator&, Args&) {
                       Value rv = st->items[st->pos];
                       st->pos = (st->pos + 1) % st->items.size();
                       if (auto d = self.lock()) d->set(Value("current"), st->items[st->pos]);
                       return rv;
                     }));
  obj.dict_ref().set(Value("reset"), Value::function("reset", [st, self](Evaluator&, Args&) {
                       st->pos = 0;
                       if (auto d = self.lock()) d->set(Value("current"), st->items[0]);
                       return Value::none();
                     }));
  return obj;
}

Value g_joiner(Evaluator&, Args& a) {
  const std::string sep = arg_or(a, 0, "sep", Value(", ")).to_str();
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](Evaluator&, Args&) {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

}  // namespace

Value make_globals() {
  Dict g;
  g.set(Value("range"), Value::function("range", g_range));
  g.set(Value("dict"), Value::function("dict", [](Evaluator&, Args& a) {
          return Value::dict(from_args(a, "dict"));
        }));
  g.set(Value("namespace"), Value::function("namespace", [](Evaluator& ev, Args& a) {
          Value ns = Value::ns(from_args(a, "namespace"));
          ev.track(ns);
          return ns;
        }));
  g.set(Value("cycler"), Value::function("cycler", g_cycler));
  g.set(Value("joiner"), Value::function("joiner", g_joiner));
  return Value::dict(std::move(g));
}

}  // namespace osprey::jinja
