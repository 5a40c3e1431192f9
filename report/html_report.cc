#include "report/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "report/html_escape.h"
#include "report/svg_chart.h"

namespace qatlab {
namespace {

// The number formats of the report. They read like qatctl's tables
// (client/text_table.h), which live in a library that carries gRPC; this one
// must not.
std::string Kilobytes(double bytes) {
  if (bytes < 1024) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} KB", bytes / 1024.0);
}

std::string Count(int64_t count) {
  double value = static_cast<double>(count);
  const char* suffixes[] = {"", "K", "M", "G"};
  int index = 0;
  while (std::fabs(value) >= 1000.0 && index < 3) {
    value /= 1000.0;
    ++index;
  }
  if (index == 0) return fmt::format("{}", count);
  int decimals = std::fabs(value) < 10 ? 2 : std::fabs(value) < 100 ? 1 : 0;
  return fmt::format("{:.{}f}{}", value, decimals, suffixes[index]);
}

std::string Percent(double percent) { return fmt::format("{:.2f}%", percent); }

std::string Microseconds(double microseconds) {
  if (microseconds < 1000) return fmt::format("{:.0f} us", microseconds);
  if (microseconds < 1e6) return fmt::format("{:.2f} ms", microseconds / 1000.0);
  return fmt::format("{:.3f} s", microseconds / 1e6);
}

std::string Clock(uint32_t hz) {
  if (hz == 0) return "";
  return hz % 1000000 == 0 ? fmt::format("{} MHz", hz / 1000000) : fmt::format("{:.1f} MHz", hz / 1e6);
}

std::string StateName(v1::JobState state) {
  return state == v1::JOB_STATE_UNSPECIFIED ? "UNSPECIFIED" : v1::JobState_Name(state);
}

// "fp32", "w4a8", "w[8,4,8]a8".
std::string Bits(const v1::VariantResult& variant) {
  if (variant.kind() == "float") return "fp32";
  if (variant.layer_weight_bits_size() > 0) {
    std::string widths;
    for (int bits : variant.layer_weight_bits()) {
      if (!widths.empty()) widths += ',';
      widths += std::to_string(bits);
    }
    return fmt::format("w[{}]a{}", widths, variant.activation_bits());
  }
  return fmt::format("w{}a{}", variant.weight_bits(), variant.activation_bits());
}

// The configuration a point is labelled with: "qat w4a8", "fp32"; prefixed
// with the job's tag ("J2") when the report holds several jobs.
std::string PointLabel(const std::string& tag, const v1::VariantResult& variant) {
  std::string label = variant.kind() == "float" ? "fp32" : variant.kind() + " " + Bits(variant);
  return tag.empty() ? label : tag + " " + label;
}

bool Exported(const v1::VariantResult& variant) {
  return variant.kind() != "float" && (variant.integer_accuracy() != 0 || variant.agreement() != 0);
}

bool Measured(const v1::Measurement& measurement) {
  return measurement.state() == "SUCCEEDED" && measurement.has_result() && measurement.result().median_us() > 0;
}

// The board a latency was measured on and how its clock was modelled:
// "mps2-an386 (emulated: qemu icount shift=0, 25 MHz)".
std::string BoardDescription(const v1::Measurement& measurement) {
  const v1::MeasurementResult& result = measurement.result();
  std::vector<std::string> parts;
  if (result.emulated()) parts.push_back("emulated");
  if (!result.timing_model().empty()) parts.push_back(result.timing_model());
  if (result.clock_hz() > 0) parts.push_back(Clock(result.clock_hz()));
  std::string details;
  for (const auto& part : parts) {
    if (!details.empty()) details += ", ";
    details += part;
  }
  if (result.emulated() && parts.size() > 1) details.replace(0, 9, "emulated:");
  return details.empty() ? measurement.board_kind() : fmt::format("{} ({})", measurement.board_kind(), details);
}

const v1::VariantResult* FindVariant(const v1::JobResult& result, const std::string& name) {
  for (const auto& variant : result.variants()) {
    if (variant.name() == name) return &variant;
  }
  return nullptr;
}

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2330;margin:24px 32px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}.meta{color:#5b6475;margin:0 0 12px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:6px 0}
th,td{padding:4px 8px;border-bottom:1px solid #e6e9ef;text-align:right;white-space:nowrap}
th{background:#f3f5f8;font-weight:600;border-bottom:1px solid #c9d0db}
td.text,th.text{text-align:left}.caption{color:#5b6475;font-size:12px;margin:2px 4px;max-width:580px}tr.float td{color:#5b6475}
.note{color:#5b6475;font-size:12px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid #e6e9ef;border-radius:4px}
svg text{font-family:system-ui,"DejaVu Sans",sans-serif;font-size:11px;fill:#1d2330}
svg .chart-title{font-size:14px;font-weight:600}svg .axis-title{font-size:12px;fill:#3b4354}
svg .tick{fill:#5b6475}svg .grid{stroke:#eceff4;stroke-width:1}
svg .frame{fill:none;stroke:#9aa3b2;stroke-width:1}svg .axis{stroke:#9aa3b2}
svg .point{stroke:#fff;stroke-width:1.5}svg .point.dominated{opacity:.35}
svg .point-label{font-size:11px}svg .point-label.dominated{fill:#8a92a3}
svg .pareto{fill:none;stroke:#c0392b;stroke-width:2}
svg .series polyline{fill:none;stroke-width:2}svg .bar{fill:#0072B2}svg .bar-value{fill:#3b4354}
)";

// The jobs, one line each, with the tag their points carry.
std::string JobList(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  std::string html =
      "<table class=\"jobs\"><tr><th class=\"text\">Tag</th><th class=\"text\">Job</th><th "
      "class=\"text\">State</th><th class=\"text\">Experiment</th><th class=\"text\">Model</th><th "
      "class=\"text\">Data set</th><th>Train</th><th>Test</th><th>Seed</th><th>Time</th></tr>\n";
  for (size_t i = 0; i < jobs.size(); ++i) {
    const v1::Job& job = jobs[i].job;
    const v1::JobResult& result = jobs[i].result;
    std::string model = !result.model().empty() ? result.model() : job.spec().model().preset();
    std::string state = StateName(job.state());
    if (!job.error().empty()) state += ": " + job.error();
    html += fmt::format(
        "<tr><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td "
        "class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td></tr>\n",
        EscapeHtml(tags[i].empty() ? "-" : tags[i]), EscapeHtml(job.id()), EscapeHtml(state),
        EscapeHtml(!result.experiment().empty() ? result.experiment() : job.experiment()), EscapeHtml(model),
        EscapeHtml(result.dataset()), result.train_samples(), result.test_samples(),
        job.spec().seed() == 0 ? 1 : job.spec().seed(),
        result.total_seconds() > 0 ? fmt::format("{:.1f} s", result.total_seconds()) : "-");
  }
  return html + "</table>\n";
}

// The board a latency was measured on, short: "mps2-an386 (emulated), 25 MHz".
std::string BoardName(const v1::Measurement& measurement) {
  std::string name = measurement.board_kind();
  if (measurement.result().emulated()) name += " (emulated)";
  if (measurement.result().clock_hz() > 0) name += ", " + Clock(measurement.result().clock_hz());
  return name;
}

// The measurement cells of a variant (latency, board, on-board accuracy):
// one line per measurement, successful or not, so the board of every
// latency is named beside it. `clock_models` collects each board's timing
// model, listed under the table.
std::string MeasurementCells(const ReportedJob& job, const std::string& variant,
                             std::map<std::string, std::string>* clock_models, bool* any) {
  std::string latency, board, accuracy;
  for (const auto& measurement : job.measurements) {
    if (measurement.variant() != variant) continue;
    if (!latency.empty()) {
      latency += "<br>";
      board += "<br>";
      accuracy += "<br>";
    }
    *any = true;
    const v1::MeasurementResult& result = measurement.result();
    if (Measured(measurement)) {
      latency += fmt::format("<b>{}</b>", Microseconds(result.median_us()));
      board += EscapeHtml(BoardName(measurement));
      if (!result.timing_model().empty()) (*clock_models)[BoardName(measurement)] = result.timing_model();
      accuracy += result.accuracy_samples() > 0
                      ? fmt::format("{} of {}", Percent(result.device_accuracy()), result.accuracy_samples())
                      : "-";
    } else {
      latency += EscapeHtml(measurement.state());
      board += EscapeHtml(measurement.board_kind());
      if (!measurement.error().empty()) board += ": " + EscapeHtml(measurement.error());
      accuracy += "-";
    }
  }
  if (latency.empty()) return "<td>-</td><td class=\"text\">-</td><td>-</td>";
  return fmt::format("<td>{}</td><td class=\"text\">{}</td><td>{}</td>", latency, board, accuracy);
}

// " Clock models: <board>: <model>; ..." for the note under the table.
std::string ClockModels(const std::map<std::string, std::string>& clock_models) {
  std::string text;
  for (const auto& [board, model] : clock_models) {
    text +=
        fmt::format("{}<b>{}</b>: {}", text.empty() ? " Clock models: " : "; ", EscapeHtml(board), EscapeHtml(model));
  }
  return text.empty() ? "" : text + ".";
}

std::string ComparisonTable(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  std::string rows;
  bool any_latency = false;
  std::map<std::string, std::string> clock_models;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const v1::VariantResult* baseline = FindVariant(jobs[i].result, "float");
    for (const auto& variant : jobs[i].result.variants()) {
      std::string delta = "-";
      if (baseline != nullptr && &variant != baseline) {
        double points = variant.accuracy() - baseline->accuracy();
        delta = std::fabs(points) < 0.005 ? "+0.00" : fmt::format("{:+.2f}", points);
      }
      rows += fmt::format(
          "<tr class=\"{}\" data-job=\"{}\" data-variant=\"{}\"><td class=\"text\">{}</td><td class=\"text\">{}</td>"
          "<td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td>{}</tr>\n",
          EscapeHtml(variant.kind()), EscapeHtml(jobs[i].job.id()), EscapeHtml(variant.name()),
          EscapeHtml(tags[i].empty() ? jobs[i].job.id() : tags[i]), EscapeHtml(variant.name()),
          EscapeHtml(variant.kind()), EscapeHtml(Bits(variant)), Percent(variant.accuracy()),
          Exported(variant) ? Percent(variant.integer_accuracy()) : "-", delta,
          variant.flash_bytes() > 0 ? Kilobytes(static_cast<double>(variant.flash_bytes())) : "-",
          variant.ram_bytes() > 0 ? Kilobytes(static_cast<double>(variant.ram_bytes())) : "-", Count(variant.macs()),
          MeasurementCells(jobs[i], variant.name(), &clock_models, &any_latency));
    }
    if (jobs[i].result.variants_size() == 0) {
      rows += fmt::format("<tr><td class=\"text\">{}</td><td class=\"text\" colspan=\"12\">no results ({})</td></tr>\n",
                          EscapeHtml(tags[i].empty() ? jobs[i].job.id() : tags[i]),
                          EscapeHtml(StateName(jobs[i].job.state())));
    }
  }
  return "<table class=\"comparison\"><tr><th class=\"text\">Job</th><th class=\"text\">Variant</th><th "
         "class=\"text\">Kind</th><th class=\"text\">Bits</th><th>Accuracy</th><th>Int. accuracy</th><th>&Delta; "
         "float</th><th>Flash</th><th>RAM</th><th>MACs</th><th>Latency</th><th class=\"text\">Board</th><th>On-board "
         "accuracy</th></tr>\n" +
         rows + "</table>\n" +
         "<p class=\"note\">Accuracy: the float model, or the fake-quantized model; integer accuracy: the exported "
         ".qmodel on the integer kernels. Flash: the whole .qmodel (float: float32 weights and biases). RAM: the "
         "planned activation arena." +
         (any_latency ? " Latency: the median of the board's timing windows; an emulated board's latency comes from "
                        "an instruction-count model, not real cycles."
                      : "") +
         ClockModels(clock_models) + "</p>\n";
}

ScatterPoint VariantPoint(const ReportedJob& job, const std::string& tag, const v1::VariantResult& variant, double x,
                          const std::string& x_text) {
  ScatterPoint point;
  point.x = x;
  point.y = variant.accuracy();
  point.label = PointLabel(tag, variant);
  point.series = variant.kind();
  point.tooltip =
      fmt::format("{} {}: accuracy {}, {}", job.job.id(), variant.name(), Percent(variant.accuracy()), x_text);
  point.data = {{"job", job.job.id()}, {"variant", variant.name()}};
  return point;
}

std::string FlashPlot(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  ScatterChart chart;
  chart.title = "Accuracy against flash size";
  chart.x_label = "flash: the .qmodel file (float: float32 weights)";
  chart.y_label = "test accuracy (%)";
  // In KB, so the ticks fall on round numbers of KB.
  chart.x_format = [](double kilobytes) { return fmt::format("{:g} KB", kilobytes); };
  chart.mark_pareto_front = true;
  chart.series_order = {"float", "ptq", "qat"};
  for (size_t i = 0; i < jobs.size(); ++i) {
    for (const auto& variant : jobs[i].result.variants()) {
      if (variant.flash_bytes() <= 0) continue;
      double flash = static_cast<double>(variant.flash_bytes());
      chart.points.push_back(VariantPoint(jobs[i], tags[i], variant, flash / 1024, "flash " + Kilobytes(flash)));
    }
  }
  return fmt::format("<div class=\"plot\" data-plot=\"flash\">{}</div>\n", RenderScatterSvg(chart));
}

// One plot per board (and clock model): latencies from different boards are
// not comparable, so they never share a front.
std::string LatencyPlots(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  std::map<std::string, ScatterChart> charts;
  std::vector<std::string> order;
  for (size_t i = 0; i < jobs.size(); ++i) {
    for (const auto& measurement : jobs[i].measurements) {
      if (!Measured(measurement)) continue;
      const v1::VariantResult* variant = FindVariant(jobs[i].result, measurement.variant());
      if (variant == nullptr) continue;
      const std::string board = BoardDescription(measurement);
      if (charts.find(board) == charts.end()) {
        order.push_back(board);
        ScatterChart& chart = charts[board];
        chart.title = "Accuracy against latency on " + BoardName(measurement);
        chart.x_label = "median latency per inference";
        chart.y_label = "test accuracy (%)";
        chart.x_format = [](double us) { return Microseconds(us); };
        chart.mark_pareto_front = true;
        chart.series_order = {"float", "ptq", "qat"};
      }
      const double latency = measurement.result().median_us();
      ScatterPoint point = VariantPoint(jobs[i], tags[i], *variant, latency, "latency " + Microseconds(latency));
      point.data.emplace_back("board", measurement.board_kind());
      charts[board].points.push_back(std::move(point));
    }
  }
  std::string html;
  for (const auto& board : order) {
    html += fmt::format("<div class=\"plot\" data-plot=\"latency\">{}<p class=\"caption\">Measured on {}</p></div>\n",
                        RenderScatterSvg(charts[board]), EscapeHtml(board));
  }
  return html.empty() ? "<p class=\"note\">No variant has been measured on a board yet (qatctl measure).</p>\n" : html;
}

std::string TrainingCurves(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  std::string html;
  for (size_t i = 0; i < jobs.size(); ++i) {
    LineChart accuracy;
    accuracy.x_label = "epoch";
    accuracy.y_label = "test accuracy (%)";
    accuracy.integer_x = true;
    LineChart loss = accuracy;
    loss.y_label = "training loss (mean over the epoch)";
    for (const auto& variant : jobs[i].result.variants()) {
      if (variant.history_size() == 0) continue;
      LineSeries accuracy_series{variant.name(), {}};
      LineSeries loss_series{variant.name(), {}};
      for (const auto& epoch : variant.history()) {
        accuracy_series.points.emplace_back(epoch.epoch(), epoch.test_accuracy());
        loss_series.points.emplace_back(epoch.epoch(), epoch.loss());
      }
      accuracy.series.push_back(std::move(accuracy_series));
      loss.series.push_back(std::move(loss_series));
    }
    if (accuracy.series.empty()) continue;
    std::string name = tags[i].empty() ? jobs[i].job.id() : tags[i] + " (" + jobs[i].job.id() + ")";
    accuracy.title = "Test accuracy per epoch";
    loss.title = "Training loss per epoch";
    html += fmt::format("<h3>{}</h3>\n<div class=\"charts\">{}{}</div>\n", EscapeHtml(name), RenderLineSvg(accuracy),
                        RenderLineSvg(loss));
  }
  return html.empty() ? "<p class=\"note\">No variant has a training history.</p>\n" : html;
}

// A bar chart per measured variant, grouped by board.
std::string LayerCycles(const std::vector<ReportedJob>& jobs, const std::vector<std::string>& tags) {
  std::vector<std::string> boards;
  std::map<std::string, std::string> charts;
  for (size_t i = 0; i < jobs.size(); ++i) {
    for (const auto& measurement : jobs[i].measurements) {
      if (!Measured(measurement) || measurement.result().layers_size() == 0) continue;
      uint64_t total = 0;
      for (const auto& layer : measurement.result().layers()) total += layer.cycles();
      BarChart chart;
      chart.title = fmt::format("{}{}: {} cycles", tags[i].empty() ? "" : tags[i] + " ", measurement.variant(),
                                Count(static_cast<int64_t>(total)));
      chart.value_label = "cycles per inference";
      for (const auto& layer : measurement.result().layers()) {
        double share = total > 0 ? 100.0 * static_cast<double>(layer.cycles()) / static_cast<double>(total) : 0;
        chart.bars.push_back({fmt::format("#{} {}", layer.index(), layer.op()), static_cast<double>(layer.cycles()),
                              fmt::format("{} ({:.1f}%)", Count(static_cast<int64_t>(layer.cycles())), share)});
      }
      const std::string board = BoardDescription(measurement);
      if (charts.find(board) == charts.end()) boards.push_back(board);
      charts[board] +=
          fmt::format("<div class=\"plot\" data-plot=\"layers\" data-job=\"{}\" data-variant=\"{}\">{}</div>\n",
                      EscapeHtml(jobs[i].job.id()), EscapeHtml(measurement.variant()), RenderBarSvg(chart));
    }
  }
  std::string html;
  for (const auto& board : boards) {
    html += fmt::format("<h3>On {}</h3>\n<div class=\"charts\">{}</div>\n", EscapeHtml(board), charts[board]);
  }
  return html.empty() ? "<p class=\"note\">No board has reported per-layer cycles.</p>\n" : html;
}

}  // namespace

std::string RenderHtmlReport(const std::vector<ReportedJob>& jobs, const ReportOptions& options) {
  // With several jobs every point and row carries a short tag (J1, J2, ...)
  // rather than a 14-character job id, so labels stay readable.
  std::vector<std::string> tags(jobs.size());
  if (jobs.size() > 1) {
    for (size_t i = 0; i < jobs.size(); ++i) tags[i] = fmt::format("J{}", i + 1);
  }
  size_t variants = 0;
  for (const auto& job : jobs) variants += static_cast<size_t>(job.result.variants_size());
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", EscapeHtml(options.title), kStyle);
  html += fmt::format("<h1>{}</h1>\n<p class=\"meta\">{} job{}, {} variants{}</p>\n", EscapeHtml(options.title),
                      jobs.size(), jobs.size() == 1 ? "" : "s", variants,
                      options.generated_at.empty() ? "" : ", generated " + EscapeHtml(options.generated_at));
  html += "<h2>Jobs</h2>\n" + JobList(jobs, tags);
  html += "<h2>Comparison</h2>\n" + ComparisonTable(jobs, tags);
  html +=
      "<h2>Trade-offs</h2>\n<p class=\"note\">The red line joins the Pareto front: no other variant is both "
      "smaller (or faster) and at least as accurate. Dominated variants are dimmed.</p>\n<div class=\"charts\">" +
      FlashPlot(jobs, tags) + LatencyPlots(jobs, tags) + "</div>\n";
  html += "<h2>Training curves</h2>\n" + TrainingCurves(jobs, tags);
  html += "<h2>Per-layer cycles</h2>\n" + LayerCycles(jobs, tags);
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace qatlab
