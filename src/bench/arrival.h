// When each request of a serving benchmark is sent. Like vLLM's benchmark: the gaps between
// requests are drawn from a gamma distribution with shape `burstiness` and mean 1/rate — shape 1 is
// a Poisson process (exponential gaps), below 1 burstier, above 1 more regular — and an infinite
// rate sends everything at once. Seeded: the same seed gives the same schedule.
#pragma once

#include <cstdint>
#include <vector>

namespace osprey::bench {

// Send times in seconds from the start, ascending, the first at 0.
std::vector<double> arrival_times(int num_requests, double request_rate, double burstiness,
                                  uint64_t seed);

}  // namespace osprey::bench
