#include "bench/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace osprey::bench {

namespace {

constexpr double kW = 520, kH = 360;                                // one panel
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 55;  // plot margins in a panel
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

// Ticks at 1, 2 or 5 times a power of ten covering [lo, hi].
std::vector<double> ticks(double& lo, double& hi) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  std::vector<double> t;
  for (double v = lo; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string num(double v) {
  return fmt::format("{:.6g}", v);
}

void panel(std::string& out, const Panel& p, double ox, double oy) {
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  out += fmt::format(R"~(<g transform="translate({},{})">)~"
                     "\n",
                     ox, oy);
  out += fmt::format(
      R"~(<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)~"
      "\n",
      kW / 2, esc(p.title));
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : p.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (!std::isfinite(x0)) {
    out +=
        fmt::format(R"~(<text x="{}" y="{}" text-anchor="middle" fill="#888">no data</text></g>)~"
                    "\n",
                    kW / 2, kH / 2);
    return;
  }
  y0 = std::min(y0, 0.0);  // quantities here are non-negative: start the y axis at 0
  const auto xt = ticks(x0, x1), yt = ticks(y0, y1);
  auto X = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return kTop + ph - (y - y0) / (y1 - y0) * ph; };
  out += fmt::format(R"~(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)~"
                     "\n",
                     kLeft, kTop, pw, ph);
  for (double t : xt) {
    out += fmt::format(R"~(<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#ddd"/>)~"
                       R"~(<text x="{0}" y="{3}" text-anchor="middle" font-size="11">{4}</text>)~"
                       "\n",
                       X(t), kTop, kTop + ph, kTop + ph + 15, num(t));
  }
  for (double t : yt) {
    out += fmt::format(R"~(<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" stroke="#ddd"/>)~"
                       R"~(<text x="{3}" y="{4}" text-anchor="end" font-size="11">{5}</text>)~"
                       "\n",
                       kLeft, kLeft + pw, Y(t), kLeft - 5, Y(t) + 4, num(t));
  }
  out += fmt::format(R"~(<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>)~"
                     "\n",
                     kLeft + pw / 2, kH - 12, esc(p.x_label));
  out += fmt::format(
      R"~(<text transform="translate(16,{}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>)~"
      "\n",
      kTop + ph / 2, esc(p.y_label));
  for (size_t si = 0; si < p.series.size(); ++si) {
    const Series& s = p.series[si];
    const char* color = kColors[si % std::size(kColors)];
    std::string pts;
    for (const auto& [x, y] : s.points) {
      if (std::isfinite(x) && std::isfinite(y)) pts += fmt::format("{:.1f},{:.1f} ", X(x), Y(y));
    }
    out += fmt::format(R"~(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>)~"
                       "\n",
                       color, pts);
    for (size_t i = 0; i < s.points.size(); ++i) {
      const auto [x, y] = s.points[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if (p.markers)
        out += fmt::format(R"~(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)~", X(x), Y(y),
                           color);
      if (i < s.labels.size()) {
        out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-size="10" fill="{}">{}</text>)~",
                           X(x) + 5, Y(y) - 5, color, esc(s.labels[i]));
      }
    }
    out += fmt::format(R"~(<rect x="{}" y="{}" width="12" height="3" fill="{}"/>)~"
                       R"~(<text x="{}" y="{}" font-size="11">{}</text>)~"
                       "\n",
                       kLeft + 10, kTop + 12 + 16 * si, color, kLeft + 27, kTop + 17 + 16 * si,
                       esc(s.name));
  }
  out += "</g>\n";
}

}  // namespace

std::string render_svg(const std::vector<Panel>& panels, int columns) {
  columns = std::max(1, std::min(columns, static_cast<int>(std::max<size_t>(1, panels.size()))));
  const size_t rows = (panels.size() + columns - 1) / columns;
  std::string out = fmt::format(
      R"~(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="sans-serif">)~"
      "\n"
      R"~(<rect width="100%" height="100%" fill="white"/>)~"
      "\n",
      kW * columns, kH * std::max<size_t>(rows, 1));
  for (size_t i = 0; i < panels.size(); ++i) {
    panel(out, panels[i], kW * static_cast<double>(i % columns),
          kH * static_cast<double>(i / columns));
  }
  return out + "</svg>\n";
}

std::vector<std::pair<double, double>> cdf_points(std::vector<double> v, double scale,
                                                  size_t max_points) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<double, double>> out;
  const size_t n = v.size();
  if (n == 0) return out;
  const size_t step = std::max<size_t>(1, n / std::max<size_t>(1, max_points));
  for (size_t i = 0; i < n; i += step) {
    out.emplace_back(v[i] * scale, static_cast<double>(i + 1) / static_cast<double>(n));
  }
  if (out.back().second < 1.0) out.emplace_back(v.back() * scale, 1.0);
  return out;
}

}  // namespace osprey::bench
