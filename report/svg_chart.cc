#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "report/html_escape.h"
#include "report/pareto_front.h"

namespace qatlab {
namespace {

// Colour-blind-safe palette (Okabe-Ito), in the order series first appear.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
                                    "#D55E00", "#F0E442", "#000000", "#999999"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

constexpr double kWidth = 580;
constexpr double kHeight = 440;
// The plot area inside the chart: room for the title and legend above, tick
// labels and axis titles left and below.
constexpr double kLeft = 70;
constexpr double kRight = 24;
constexpr double kTop = 62;
constexpr double kBottom = 54;
constexpr double kFontSize = 11;
// A generous average glyph width of the sans-serif font at kFontSize, used
// to keep labels from overlapping without measuring text.
constexpr double kGlyphWidth = 6.4;

std::string Number(double value) { return fmt::format("{:.1f}", value); }

// A linear or logarithmic map from data to pixels, with its ticks.
struct Axis {
  double low = 0;
  double high = 1;
  bool log = false;
  std::vector<double> ticks;

  double Fraction(double value) const {
    if (log) return (std::log10(value) - std::log10(low)) / (std::log10(high) - std::log10(low));
    return (value - low) / (high - low);
  }
};

// 1, 2 or 5 times a power of ten, the closest above `rough`.
double NiceStep(double rough) {
  double power = std::pow(10.0, std::floor(std::log10(rough)));
  double mantissa = rough / power;
  double nice = mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10;
  return nice * power;
}

Axis LinearAxis(double low, double high, int target_ticks, bool integer) {
  if (!(high > low)) {
    double pad = low == 0 ? 1 : std::fabs(low) * 0.05;
    low -= pad;
    high += pad;
  }
  double step = NiceStep((high - low) / target_ticks);
  if (integer) step = std::max(1.0, std::round(step));
  Axis axis;
  axis.low = std::floor(low / step) * step;
  axis.high = std::ceil(high / step) * step;
  // Counted rather than accumulated, so a step too small to change a large
  // value cannot loop forever.
  const int steps = static_cast<int>(std::min(100.0, std::round((axis.high - axis.low) / step)));
  for (int i = 0; i <= steps; ++i) axis.ticks.push_back(axis.low + step * i);
  return axis;
}

// Decades, with 2 and 5 in between when the range spans few decades.
Axis LogAxis(double low, double high) {
  Axis axis;
  axis.log = true;
  double first_decade = std::floor(std::log10(low));
  double last_decade = std::ceil(std::log10(high));
  bool with_halves = last_decade - first_decade <= 3;
  std::vector<double> candidates;
  for (double decade = first_decade; decade <= last_decade; ++decade) {
    double base = std::pow(10.0, decade);
    candidates.push_back(base);
    if (with_halves) {
      candidates.push_back(2 * base);
      candidates.push_back(5 * base);
    }
  }
  // The axis runs from the tick at or below the lowest value to the one at
  // or above the highest, so every point sits inside it.
  axis.low = candidates.front();
  axis.high = candidates.back();
  for (double c : candidates) {
    if (c <= low) axis.low = c;
  }
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    if (*it >= high) axis.high = *it;
  }
  for (double c : candidates) {
    if (c >= axis.low && c <= axis.high) axis.ticks.push_back(c);
  }
  return axis;
}

std::string PlainTick(double value, const Axis& axis) {
  if (axis.ticks.size() < 2 || axis.log) return fmt::format("{:g}", value);
  double step = axis.ticks[1] - axis.ticks[0];
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", value, decimals);
}

struct Frame {
  double left = kLeft;
  double top = kTop;
  double width = kWidth - kLeft - kRight;
  double height = kHeight - kTop - kBottom;
};

double PixelX(const Frame& frame, const Axis& axis, double value) {
  return frame.left + axis.Fraction(value) * frame.width;
}
double PixelY(const Frame& frame, const Axis& axis, double value) {
  return frame.top + frame.height - axis.Fraction(value) * frame.height;
}

std::string OpenSvg(const std::string& css_class, double width, double height, const std::string& title) {
  return fmt::format(
      "<svg class=\"chart {}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}\">\n<text class=\"chart-title\" x=\"16\" y=\"22\">{}</text>\n",
      css_class, width, height, width, height, EscapeHtml(title), EscapeHtml(title));
}

// Grid lines, ticks, tick labels and the axis titles.
std::string DrawAxes(const Frame& frame, const Axis& x, const Axis& y, const TickFormat& x_format,
                     const std::string& x_label, const std::string& y_label) {
  std::string svg;
  for (double tick : y.ticks) {
    double py = PixelY(frame, y, tick);
    svg += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", Number(frame.left), Number(py),
                       Number(frame.left + frame.width), Number(py));
    svg += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", Number(frame.left - 6),
                       Number(py + 4), EscapeHtml(PlainTick(tick, y)));
  }
  for (double tick : x.ticks) {
    double px = PixelX(frame, x, tick);
    svg += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", Number(px), Number(frame.top),
                       Number(px), Number(frame.top + frame.height));
    std::string text = x_format ? x_format(tick) : PlainTick(tick, x);
    svg += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", Number(px),
                       Number(frame.top + frame.height + 16), EscapeHtml(text));
  }
  svg += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", Number(frame.left),
                     Number(frame.top), Number(frame.width), Number(frame.height));
  svg += fmt::format("<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     Number(frame.left + frame.width / 2), Number(frame.top + frame.height + 40), EscapeHtml(x_label));
  double mid_y = frame.top + frame.height / 2;
  svg += fmt::format(
      "<text class=\"axis-title\" x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>\n",
      Number(mid_y), Number(mid_y), EscapeHtml(y_label));
  return svg;
}

// The distinct series names in order of first appearance.
std::vector<std::string> SeriesOrder(const std::vector<std::string>& names) {
  std::vector<std::string> order;
  for (const auto& name : names) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  return order;
}

const char* SeriesColour(const std::vector<std::string>& order, const std::string& name) {
  auto it = std::find(order.begin(), order.end(), name);
  return kPalette[static_cast<size_t>(it - order.begin()) % kPaletteSize];
}

// One row of legend entries under the title: a swatch and a name for each
// of `shown`, coloured by their place in `order`; `extra` entries (already
// SVG) follow.
std::string DrawLegend(const std::vector<std::string>& order, const std::vector<std::string>& shown,
                       const std::string& extra) {
  std::string svg = "<g class=\"legend\">";
  double x = kLeft;
  for (const auto& name : shown) {
    svg += fmt::format("<circle cx=\"{}\" cy=\"40\" r=\"5\" fill=\"{}\"/>", Number(x + 5), SeriesColour(order, name));
    svg += fmt::format("<text x=\"{}\" y=\"44\">{}</text>", Number(x + 14), EscapeHtml(name));
    x += 14 + kGlyphWidth * static_cast<double>(name.size()) + 18;
  }
  svg += fmt::format("<g transform=\"translate({} 0)\">{}</g>", Number(x), extra);
  svg += "</g>\n";
  return svg;
}

struct Box {
  double x0, y0, x1, y1;
  double Overlap(const Box& other) const {
    double w = std::min(x1, other.x1) - std::max(x0, other.x0);
    double h = std::min(y1, other.y1) - std::max(y0, other.y0);
    return w > 0 && h > 0 ? w * h : 0;
  }
};

struct PlacedLabel {
  double x = 0;
  double y = 0;
  const char* anchor = "start";
};

// Places each label next to its point where it overlaps the fewest other
// labels and points and stays inside the plot: greedy, in the given order.
std::vector<PlacedLabel> PlaceLabels(const std::vector<std::pair<double, double>>& pixels,
                                     const std::vector<std::string>& labels, const Frame& frame) {
  struct Candidate {
    double dx, dy;  // baseline start relative to the point, for anchor
    const char* anchor;
  };
  const Candidate candidates[] = {{8, 4, "start"},    {-8, 4, "end"},    {0, -9, "middle"}, {0, 17, "middle"},
                                  {7, -7, "start"},   {7, 15, "start"},  {-7, -7, "end"},   {-7, 15, "end"},
                                  {10, -18, "start"}, {10, 26, "start"}, {-10, -18, "end"}, {-10, 26, "end"}};
  std::vector<Box> taken;
  for (const auto& [px, py] : pixels) taken.push_back({px - 5, py - 5, px + 5, py + 5});
  std::vector<PlacedLabel> placed;
  for (size_t i = 0; i < pixels.size(); ++i) {
    double width = kGlyphWidth * static_cast<double>(labels[i].size());
    double best_cost = std::numeric_limits<double>::infinity();
    PlacedLabel best;
    Box best_box{};
    for (const Candidate& c : candidates) {
      double x = pixels[i].first + c.dx;
      double y = pixels[i].second + c.dy;
      double x0 = c.anchor[0] == 's' ? x : c.anchor[0] == 'e' ? x - width : x - width / 2;
      Box box{x0, y - kFontSize + 2, x0 + width, y + 2};
      double cost = 0;
      for (size_t j = 0; j < taken.size(); ++j) {
        if (j != i) cost += box.Overlap(taken[j]);
      }
      // Outside the plot area is worse than a small overlap.
      Box inside{frame.left, frame.top, frame.left + frame.width, frame.top + frame.height};
      cost += (box.x1 - box.x0) * (box.y1 - box.y0) - box.Overlap(inside);
      if (cost < best_cost) {
        best_cost = cost;
        best = {x, y, c.anchor};
        best_box = box;
      }
      if (cost == 0) break;
    }
    placed.push_back(best);
    taken.push_back(best_box);
  }
  return placed;
}

}  // namespace

std::string RenderScatterSvg(const ScatterChart& chart) {
  const Frame frame;
  std::string svg = OpenSvg("scatter", kWidth, kHeight, chart.title);
  std::vector<std::string> names = chart.series_order;
  for (const auto& point : chart.points) names.push_back(point.series);
  const std::vector<std::string> order = SeriesOrder(names);

  std::vector<size_t> front;
  std::vector<bool> on_front(chart.points.size(), false);
  if (chart.mark_pareto_front) {
    std::vector<TradeoffPoint> tradeoff;
    for (const auto& point : chart.points) tradeoff.push_back({point.x, point.y});
    front = ParetoFront(tradeoff);
    for (size_t index : front) on_front[index] = true;
  }
  std::string extra;
  if (chart.mark_pareto_front) {
    extra =
        "<line class=\"pareto\" x1=\"0\" y1=\"40\" x2=\"22\" y2=\"40\"/><text x=\"28\" y=\"44\">Pareto front</text>"
        "<circle class=\"dominated\" cx=\"137\" cy=\"40\" r=\"5\" fill=\"#777\"/><text x=\"146\" y=\"44\">dominated"
        "</text>";
  }
  std::vector<std::string> present;
  for (const auto& name : order) {
    if (std::any_of(chart.points.begin(), chart.points.end(),
                    [&](const ScatterPoint& p) { return p.series == name; })) {
      present.push_back(name);
    }
  }
  svg += DrawLegend(order, present, extra);
  if (chart.points.empty()) {
    svg += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text></svg>\n",
                       Number(kWidth / 2), Number(kHeight / 2));
    return svg;
  }

  double min_x = std::numeric_limits<double>::infinity(), max_x = -min_x;
  double min_y = min_x, max_y = -min_x;
  for (const auto& point : chart.points) {
    min_x = std::min(min_x, point.x);
    max_x = std::max(max_x, point.x);
    min_y = std::min(min_y, point.y);
    max_y = std::max(max_y, point.y);
  }
  const Axis x_axis = min_x > 0 && max_x / min_x > 8
                          ? LogAxis(min_x, max_x)
                          : LinearAxis(min_x - (max_x - min_x) * 0.05, max_x + (max_x - min_x) * 0.05, 6, false);
  const Axis y_axis = LinearAxis(min_y - (max_y - min_y) * 0.05, max_y + (max_y - min_y) * 0.05, 6, false);
  svg += DrawAxes(frame, x_axis, y_axis, chart.x_format, chart.x_label, chart.y_label);

  std::vector<std::pair<double, double>> pixels;
  for (const auto& point : chart.points) {
    pixels.emplace_back(PixelX(frame, x_axis, point.x), PixelY(frame, y_axis, point.y));
  }
  if (front.size() > 1) {
    std::string path;
    for (size_t index : front) {
      path +=
          fmt::format("{}{},{}", path.empty() ? "" : " ", Number(pixels[index].first), Number(pixels[index].second));
    }
    svg += fmt::format("<polyline class=\"pareto\" points=\"{}\"/>\n", path);
  }
  for (size_t i = 0; i < chart.points.size(); ++i) {
    const ScatterPoint& point = chart.points[i];
    std::string attributes = fmt::format(" data-series=\"{}\"", EscapeHtml(point.series));
    if (chart.mark_pareto_front) attributes += fmt::format(" data-pareto=\"{}\"", on_front[i] ? "true" : "false");
    for (const auto& [name, value] : point.data) {
      attributes += fmt::format(" data-{}=\"{}\"", EscapeHtml(name), EscapeHtml(value));
    }
    const bool dimmed = chart.mark_pareto_front && !on_front[i];
    svg +=
        fmt::format("<circle class=\"point{}\" cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"{}><title>{}</title></circle>\n",
                    dimmed ? " dominated" : "", Number(pixels[i].first), Number(pixels[i].second),
                    SeriesColour(order, point.series), attributes, EscapeHtml(point.tooltip));
  }
  std::vector<std::string> labels;
  for (const auto& point : chart.points) labels.push_back(point.label);
  const std::vector<PlacedLabel> placed = PlaceLabels(pixels, labels, frame);
  for (size_t i = 0; i < chart.points.size(); ++i) {
    const bool dimmed = chart.mark_pareto_front && !on_front[i];
    svg += fmt::format("<text class=\"point-label{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>\n",
                       dimmed ? " dominated" : "", Number(placed[i].x), Number(placed[i].y), placed[i].anchor,
                       EscapeHtml(labels[i]));
  }
  svg += "</svg>\n";
  return svg;
}

std::string RenderLineSvg(const LineChart& chart) {
  const Frame frame;
  std::string svg = OpenSvg("lines", kWidth, kHeight, chart.title);
  std::vector<std::string> names;
  for (const auto& series : chart.series) names.push_back(series.name);
  const std::vector<std::string> order = SeriesOrder(names);
  svg += DrawLegend(order, order, "");
  double min_x = std::numeric_limits<double>::infinity(), max_x = -min_x;
  double min_y = min_x, max_y = -min_x;
  for (const auto& series : chart.series) {
    for (const auto& [x, y] : series.points) {
      min_x = std::min(min_x, x);
      max_x = std::max(max_x, x);
      min_y = std::min(min_y, y);
      max_y = std::max(max_y, y);
    }
  }
  if (min_x > max_x) {
    svg += fmt::format("<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text></svg>\n",
                       Number(kWidth / 2), Number(kHeight / 2));
    return svg;
  }
  Axis x_axis = LinearAxis(min_x, max_x, 6, false);
  if (chart.integer_x) {
    // Whole-number ticks, half a step of room either side, so a single
    // epoch sits in the middle rather than on the frame.
    x_axis = LinearAxis(min_x, std::max(max_x, min_x + 1), 8, true);
    x_axis.low -= 0.5;
    x_axis.high += 0.5;
  }
  const Axis y_axis = LinearAxis(min_y - (max_y - min_y) * 0.05, max_y + (max_y - min_y) * 0.05, 6, false);
  svg += DrawAxes(frame, x_axis, y_axis, {}, chart.x_label, chart.y_label);
  for (const auto& series : chart.series) {
    const char* colour = SeriesColour(order, series.name);
    std::string path;
    std::string markers;
    for (const auto& [x, y] : series.points) {
      double px = PixelX(frame, x_axis, x), py = PixelY(frame, y_axis, y);
      path += fmt::format("{}{},{}", path.empty() ? "" : " ", Number(px), Number(py));
      markers += fmt::format(
          "<circle class=\"line-point\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{}: {:g}</title></circle>",
          Number(px), Number(py), colour, EscapeHtml(series.name), y);
    }
    svg += fmt::format("<g class=\"series\" data-series=\"{}\"><polyline points=\"{}\" stroke=\"{}\"/>{}</g>\n",
                       EscapeHtml(series.name), path, colour, markers);
  }
  svg += "</svg>\n";
  return svg;
}

std::string RenderBarSvg(const BarChart& chart) {
  constexpr double kBarHeight = 18;
  constexpr double kGap = 6;
  double label_width = 0;
  double value_width = 0;
  for (const auto& bar : chart.bars) {
    label_width = std::max(label_width, kGlyphWidth * static_cast<double>(bar.label.size()));
    value_width = std::max(value_width, kGlyphWidth * static_cast<double>(bar.value_text.size()));
  }
  Frame frame;
  frame.left = label_width + 16;
  frame.top = 40;
  frame.width = chart.width - frame.left - value_width - 16;
  frame.height = static_cast<double>(chart.bars.size()) * (kBarHeight + kGap) + kGap;
  const double height = frame.top + frame.height + 44;
  std::string svg = OpenSvg("bars", chart.width, height, chart.title);
  double max_value = 0;
  for (const auto& bar : chart.bars) max_value = std::max(max_value, bar.value);
  const Axis axis = LinearAxis(0, max_value > 0 ? max_value : 1, 5, false);
  for (double tick : axis.ticks) {
    double px = PixelX(frame, axis, tick);
    svg += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", Number(px), Number(frame.top),
                       Number(px), Number(frame.top + frame.height));
    svg += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", Number(px),
                       Number(frame.top + frame.height + 16), EscapeHtml(fmt::format("{:g}", tick)));
  }
  double y = frame.top + kGap;
  for (const auto& bar : chart.bars) {
    double width = axis.Fraction(bar.value) * frame.width;
    svg += fmt::format("<text class=\"bar-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                       Number(frame.left - 6), Number(y + 13), EscapeHtml(bar.label));
    svg += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {}</title></rect>",
                       Number(frame.left), Number(y), Number(std::max(width, 1.0)), Number(kBarHeight),
                       EscapeHtml(bar.label), EscapeHtml(bar.value_text));
    svg += fmt::format("<text class=\"bar-value\" x=\"{}\" y=\"{}\">{}</text>\n", Number(frame.left + width + 5),
                       Number(y + 13), EscapeHtml(bar.value_text));
    y += kBarHeight + kGap;
  }
  svg += fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", Number(frame.left),
                     Number(frame.top), Number(frame.left), Number(frame.top + frame.height));
  svg += fmt::format("<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     Number(frame.left + frame.width / 2), Number(frame.top + frame.height + 36),
                     EscapeHtml(chart.value_label));
  svg += "</svg>\n";
  return svg;
}

}  // namespace qatlab
