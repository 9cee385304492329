// Jinja2's filters on sequences and mappings: join, map, select, sort, dictsort, ...
#include <algorithm>

#include "jinja/error.h"
#include "jinja/filters.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

// Jinja2's make_attrgetter: "a.b.0" walks attributes/items, digits index.
Value get_path(Evaluator& ev, const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return ev.getitem(item, attribute);
  Value cur = item;
  const std::string& path = attribute.str();
  size_t p = 0;
  while (p <= path.size()) {
    size_t e = path.find('.', p);
    if (e == std::string::npos) e = path.size();
    const std::string part = path.substr(p, e - p);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return isdigit(static_cast<unsigned char>(c));
    });
    cur = digits ? ev.getitem(cur, Value(static_cast<int64_t>(std::stoll(part))))
                 : ev.getitem(cur, Value(part));
    p = e + 1;
  }
  return cur;
}

// Sort key for the case-insensitive comparisons Jinja2 does by default.
Value fold(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(to_lower(v.str()));
  return v;
}

Value f_join(Evaluator& ev, const Value& v, Args& a) {
  const std::string sep = arg_or(a, 0, "d", Value("")).to_str();
  auto attribute = arg(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const auto& x : ev.iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += (attribute ? get_path(ev, x, *attribute) : x).to_str();
    ev.check_size(out.size());
  }
  return Value(out);
}

Value f_first(Evaluator& ev, const Value& v, Args&) {
  List items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Evaluator& ev, const Value& v, Args&) {
  List items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_list(Evaluator& ev, const Value& v, Args&) {
  return Value::list(ev.iterate(v));
}

Value f_items(Evaluator&, const Value& v, Args&) {
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) type_error("Can only get item pairs from a mapping.");
  List out;
  for (auto& [k, x] : v.dict_ref().items) out.push_back(Value::list({k, x}, true));
  return Value::list(std::move(out));
}

Value f_reverse(Evaluator& ev, const Value& v, Args&) {
  if (v.is_string()) {
    List chars = ev.iterate(v);
    std::string out;
    for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += it->str();
    return Value(out);
  }
  List items = ev.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

// select/reject/selectattr/rejectattr share Jinja2's select_or_reject.
Value select_impl(Evaluator& ev, const Value& v, Args& a, bool attr, bool want) {
  size_t i = 0;
  Value attribute;
  if (attr) {
    if (a.pos.empty()) type_error("Missing parameter for attribute name");
    attribute = a.pos[i++];
  }
  std::string test;
  if (i < a.pos.size()) test = a.pos[i++].to_str();
  Args targs;
  targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(std::min(i, a.pos.size())),
                   a.pos.end());
  targs.kw = a.kw;
  List out;
  if (!v.truthy())
    return Value::list();  // Jinja2 skips falsy input (None included) without iterating
  for (const auto& x : ev.iterate(v)) {
    Value probe = attr ? get_path(ev, x, attribute) : x;
    const bool r = test.empty() ? probe.truthy() : apply_test(ev, test, probe, targs);
    if (r == want) out.push_back(x);
  }
  return Value::list(std::move(out));
}

Value f_select(Evaluator& ev, const Value& v, Args& a) {
  return select_impl(ev, v, a, false, true);
}
Value f_reject(Evaluator& ev, const Value& v, Args& a) {
  return select_impl(ev, v, a, false, false);
}
Value f_selectattr(Evaluator& ev, const Value& v, Args& a) {
  return select_impl(ev, v, a, true, true);
}
Value f_rejectattr(Evaluator& ev, const Value& v, Args& a) {
  return select_impl(ev, v, a, true, false);
}

Value f_map(Evaluator& ev, const Value& v, Args& a) {
  List out;
  if (!v.truthy()) return Value::list();  // as select: falsy input maps to nothing
  if (a.pos.empty()) {
    auto attribute = arg(a, 99, "attribute");
    if (!attribute) return Value::list(ev.iterate(v));
    auto dflt = arg(a, 99, "default");
    for (const auto& x : ev.iterate(v)) {
      Value r = get_path(ev, x, *attribute);
      out.push_back(r.is_undefined() && dflt ? *dflt : r);
    }
    return Value::list(std::move(out));
  }
  const std::string name = a.pos[0].to_str();
  Args fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const auto& x : ev.iterate(v)) {
    Args copy = fargs;
    out.push_back(apply_filter(ev, name, x, copy));
  }
  return Value::list(std::move(out));
}

// Stable sort by `key`, as Python's sorted().
List sorted_by(Evaluator& ev, List items, bool reverse,
               const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& x : items) keyed.emplace_back(key(x), std::move(x));
  (void)ev;
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& l, const auto& r) {
    return reverse ? less(r.first, l.first) : less(l.first, r.first);
  });
  List out;
  for (auto& [k, x] : keyed) out.push_back(std::move(x));
  return out;
}

Value f_sort(Evaluator& ev, const Value& v, Args& a) {
  const bool reverse = arg_or(a, 0, "reverse", Value(false)).truthy();
  const bool cs = arg_or(a, 1, "case_sensitive", Value(false)).truthy();
  auto attribute = arg(a, 2, "attribute");
  return Value::list(sorted_by(ev, ev.iterate(v), reverse, [&](const Value& x) {
    return fold(attribute ? get_path(ev, x, *attribute) : x, cs);
  }));
}

Value f_dictsort(Evaluator& ev, const Value& v, Args& a) {
  const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
  const std::string by = arg_or(a, 1, "by", Value("key")).to_str();
  const bool reverse = arg_or(a, 2, "reverse", Value(false)).truthy();
  if (by != "key" && by != "value")
    raise("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  Args none;
  List items = f_items(ev, v, none).items();
  return Value::list(sorted_by(ev, items, reverse, [&](const Value& x) {
    return fold(x.items()[by == "key" ? 0 : 1], cs);
  }));
}

Value f_unique(Evaluator& ev, const Value& v, Args& a) {
  const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
  auto attribute = arg(a, 1, "attribute");
  List out, seen;
  for (const auto& x : ev.iterate(v)) {
    Value k = fold(attribute ? get_path(ev, x, *attribute) : x, cs);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); }))
      continue;
    seen.push_back(k);
    out.push_back(x);
  }
  return Value::list(std::move(out));
}

Value min_max(Evaluator& ev, const Value& v, Args& a, bool want_max) {
  const bool cs = arg_or(a, 0, "case_sensitive", Value(false)).truthy();
  auto attribute = arg(a, 1, "attribute");
  List items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& x) { return fold(attribute ? get_path(ev, x, *attribute) : x, cs); };
  Value best = items[0], best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    bool better;
    try {
      better = want_max ? less(best_key, k) : less(k, best_key);
    } catch (const TemplateError& e) {  // Python's max() asks new > best, min() new < best
      if (e.type() != "TypeError") throw;
      type_error(std::string("'") + (want_max ? ">" : "<") +
                 "' not supported between instances of '" + k.py_type() + "' and '" +
                 best_key.py_type() + "'");
    }
    if (better) {
      best = items[i];
      best_key = k;
    }
  }
  return best;
}

Value f_max(Evaluator& ev, const Value& v, Args& a) {
  return min_max(ev, v, a, true);
}
Value f_min(Evaluator& ev, const Value& v, Args& a) {
  return min_max(ev, v, a, false);
}

Value f_sum(Evaluator& ev, const Value& v, Args& a) {
  auto attribute = arg(a, 0, "attribute");
  Value total = arg_or(a, 1, "start", Value(int64_t{0}));
  for (const auto& x : ev.iterate(v))
    total = binary_op("+", total, attribute ? get_path(ev, x, *attribute) : x, ev);
  return total;
}

Value f_batch(Evaluator& ev, const Value& v, Args& a) {
  const int64_t n = arg_or(a, 0, "linecount", Value(int64_t{1})).as_int();
  if (n <= 0) raise("FilterArgumentError", "batch size must be positive");
  auto fill = arg(a, 1, "fill_with");
  List out, cur;
  for (const auto& x : ev.iterate(v)) {
    cur.push_back(x);
    if (static_cast<int64_t>(cur.size()) == n) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

}  // namespace

void add_sequence_filters(std::unordered_map<std::string, FilterFn>& t) {
  t["join"] = f_join;
  t["first"] = f_first;
  t["last"] = f_last;
  t["list"] = f_list;
  t["items"] = f_items;
  t["reverse"] = f_reverse;
  t["select"] = f_select;
  t["reject"] = f_reject;
  t["selectattr"] = f_selectattr;
  t["rejectattr"] = f_rejectattr;
  t["map"] = f_map;
  t["sort"] = f_sort;
  t["dictsort"] = f_dictsort;
  t["unique"] = f_unique;
  t["max"] = f_max;
  t["min"] = f_min;
  t["sum"] = f_sum;
  t["batch"] = f_batch;
}

}  // namespace osprey::jinja
