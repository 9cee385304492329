// Line charts as a standalone SVG file, written by hand (no plotting library): a grid of panels,
// each with axes, "nice" ticks, one polyline per series (optionally with point markers and labels)
// and a legend. Enough for latency CDFs, throughput over time and throughput-vs-latency curves.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace osprey::bench {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  std::vector<std::string> labels;                // optional, one per point, written next to it
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool markers = false;  // a dot at every point
};

// Panels laid out `columns` per row. Non-finite points are skipped; an empty panel says "no data".
std::string render_svg(const std::vector<Panel>& panels, int columns = 2);

// The empirical CDF of `values` scaled by `scale` (e.g. 1000 for seconds -> ms): (value, fraction
// of values <= it), at most `max_points` points.
std::vector<std::pair<double, double>> cdf_points(std::vector<double> values, double scale,
                                                  size_t max_points = 400);

}  // namespace osprey::bench
