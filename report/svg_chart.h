// Charts drawn as inline SVG (no script, no external resource): a scatter
// plot with an optional Pareto front, a line chart, and a horizontal bar
// chart. Every string given here is escaped before it reaches the SVG.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace qatlab {

// How an axis value reads at a tick: "4 KB", "1.2 ms", "97.5".
using TickFormat = std::function<std::string(double)>;

struct ScatterPoint {
  double x = 0;
  double y = 0;
  std::string label;    // drawn beside the point
  std::string series;   // the legend entry and colour, e.g. "qat"
  std::string tooltip;  // shown on hover (an SVG <title>)
  // Extra attributes of the point's element, written as data-<name>="value".
  std::vector<std::pair<std::string, std::string>> data;
};

struct ScatterChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  TickFormat x_format;  // empty: plain numbers
  // Draws the front of points with the lowest x for their y (x is a cost to
  // minimise, y an accuracy to maximise); dominated points are dimmed.
  bool mark_pareto_front = false;
  // The legend's order and the colours: these series first, in this order,
  // then any others as they appear. Fixed lists keep colours the same
  // across charts.
  std::vector<std::string> series_order;
  std::vector<ScatterPoint> points;
};

// One <svg> element. Each point is a <circle class="point"> carrying
// data-series, data-pareto ("true"/"false" when the front is marked) and the
// point's own data-* attributes. The x axis is logarithmic when every x is
// positive and they span more than a factor of 8.
std::string RenderScatterSvg(const ScatterChart& chart);

struct LineSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), increasing x
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool integer_x = false;  // ticks only at whole numbers (epochs)
  std::vector<LineSeries> series;
};

// One <svg>: a polyline and a <circle class="line-point"> per point, per series.
std::string RenderLineSvg(const LineChart& chart);

struct Bar {
  std::string label;       // left of the bar
  double value = 0;        // length
  std::string value_text;  // right of the bar
};

struct BarChart {
  double width = 390;  // pixels; the height follows from the bars
  std::string title;
  std::string value_label;  // the value axis
  std::vector<Bar> bars;    // top to bottom
};

// One <svg>: a <rect class="bar"> per bar.
std::string RenderBarSvg(const BarChart& chart);

}  // namespace qatlab
