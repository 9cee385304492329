// Stop strings across token boundaries: a completion's text grows by deltas; the first occurrence
// of any stop string ends it, and the stop string itself is left out of the output (unless asked
// for). While no stop string has matched, the tail that could still grow into one is held back, so
// a stream never shows part of a stop string.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace osprey {

class StopStrings {
 public:
  StopStrings(std::vector<std::string> stops, bool include_in_output);

  struct Result {
    std::string emit;  // text that is final
    bool stopped = false;
    std::string which;  // the stop string that matched
  };
  Result push(std::string_view delta);
  // The held-back tail, at the end of the completion.
  std::string flush();
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  bool include_;
  size_t hold_ = 0;  // bytes that may be the start of a stop string: longest stop - 1
  std::string pending_;
};

}  // namespace osprey
