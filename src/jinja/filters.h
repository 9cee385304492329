// Internal: the filter table is split over filters.cc (strings, numbers) and filters_seq.cc
// (sequences and mappings).
#pragma once

#include <string>
#include <unordered_map>

#include "jinja/builtins.h"

namespace osprey::jinja {

using FilterFn = Value (*)(Evaluator&, const Value&, Args&);
void add_sequence_filters(std::unordered_map<std::string, FilterFn>& table);

}  // namespace osprey::jinja
