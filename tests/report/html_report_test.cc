// The report writer on hand-made jobs: no processes, milliseconds. The jobs
// are built here, field by field, so each test states the situation it
// checks; what must hold is read back from the HTML.
#include "report/html_report.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "report/html_escape.h"
#include "report/pareto_front.h"
#include "report/svg_chart.h"

namespace qatlab {
namespace {

v1::VariantResult Variant(const std::string& kind, int weight_bits, double accuracy, int64_t flash_bytes) {
  v1::VariantResult variant;
  variant.set_kind(kind);
  variant.set_weight_bits(kind == "float" ? 32 : weight_bits);
  variant.set_activation_bits(kind == "float" ? 32 : 8);
  const std::string config = kind == "float" ? "" : fmt::format("w{}a8", weight_bits);
  variant.set_config(config);
  variant.set_name(kind == "float" ? "float" : fmt::format("{}_{}", kind, config));
  variant.set_accuracy(accuracy);
  variant.set_integer_accuracy(kind == "float" ? 0 : accuracy - 0.1);
  variant.set_agreement(kind == "float" ? 0 : 99.5);
  variant.set_flash_bytes(flash_bytes);
  variant.set_ram_bytes(2048);
  variant.set_macs(101770);
  return variant;
}

v1::Measurement Measurement(const std::string& job_id, const std::string& variant, double median_us) {
  v1::Measurement measurement;
  measurement.set_id("m-" + variant);
  measurement.set_job_id(job_id);
  measurement.set_variant(variant);
  measurement.set_board_kind("mps2-an386");
  measurement.set_state("SUCCEEDED");
  v1::MeasurementResult* result = measurement.mutable_result();
  result->set_emulated(true);
  result->set_timing_model("qemu icount shift=0");
  result->set_clock_hz(25000000);
  result->set_median_us(median_us);
  result->set_median_cycles(static_cast<uint64_t>(median_us * 25));
  const char* ops[] = {"dense", "relu", "dense"};
  for (int i = 0; i < 3; ++i) {
    v1::LayerCycles* layer = result->add_layers();
    layer->set_index(i);
    layer->set_op(ops[i]);
    layer->set_cycles(1000u * static_cast<uint64_t>(i + 1));
  }
  return measurement;
}

// A finished job: float, and PTQ and QAT at 8, 4 and 2 bits; the 8- and
// 4-bit QAT variants measured; every trained variant with two epochs.
ReportedJob SmallJob(const std::string& id) {
  ReportedJob job;
  job.job.set_id(id);
  job.job.set_state(v1::SUCCEEDED);
  job.job.set_experiment("mlp sweep");
  job.result.set_model("mlp");
  job.result.set_dataset("mnist10k");
  *job.result.add_variants() = Variant("float", 32, 97.0, 400000);
  *job.result.add_variants() = Variant("ptq", 8, 96.9, 100000);
  *job.result.add_variants() = Variant("qat", 8, 97.1, 100000);
  *job.result.add_variants() = Variant("ptq", 4, 90.0, 50000);
  *job.result.add_variants() = Variant("qat", 4, 96.0, 50000);
  *job.result.add_variants() = Variant("ptq", 2, 40.0, 25000);
  *job.result.add_variants() = Variant("qat", 2, 85.0, 25000);
  for (auto& variant : *job.result.mutable_variants()) {
    if (variant.kind() == "ptq") continue;
    for (int epoch = 1; epoch <= 2; ++epoch) {
      v1::EpochStats* stats = variant.add_history();
      stats->set_variant(variant.name());
      stats->set_epoch(epoch);
      stats->set_epochs(2);
      stats->set_loss(0.5 / epoch);
      stats->set_test_accuracy(variant.accuracy() - 2.0 / epoch);
    }
  }
  job.measurements.push_back(Measurement(id, "qat_w8a8", 2400));
  job.measurements.push_back(Measurement(id, "qat_w4a8", 2500));
  return job;
}

size_t CountMatches(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

// The <svg> of the plot tagged data-plot="<name>" (the first one).
std::string Plot(const std::string& html, const std::string& name) {
  size_t start = html.find("data-plot=\"" + name + "\"");
  if (start == std::string::npos) return "";
  size_t end = html.find("</svg>", start);
  return html.substr(start, end - start);
}

TEST(ParetoFrontTest, KeepsOnlyTheNonDominatedPointsByIncreasingCost) {
  // (cost, accuracy): 1 is dominated by 0 (same cost, less accurate); 3 by
  // 2 (cheaper and more accurate); 5 duplicates 4 and stays with it.
  const std::vector<TradeoffPoint> points = {{10, 90}, {10, 80}, {20, 95}, {30, 94}, {40, 99}, {40, 99}, {5, 50}};
  EXPECT_EQ(ParetoFront(points), (std::vector<size_t>{6, 0, 2, 4, 5}));
  EXPECT_TRUE(ParetoFront({}).empty());
  EXPECT_EQ(ParetoFront({{1, 1}}), (std::vector<size_t>{0}));
}

TEST(HtmlReportTest, PlotsEveryVariantWithAFlashSizeAndEveryMeasurement) {
  const std::string html = RenderHtmlReport({SmallJob("j-aaaaaaaaaaaa"), SmallJob("j-bbbbbbbbbbbb")});
  // 7 variants per job have a flash size; 2 per job were measured.
  EXPECT_EQ(CountMatches(Plot(html, "flash"), "<circle class=\"point"), 14u);
  EXPECT_EQ(CountMatches(Plot(html, "latency"), "<circle class=\"point"), 4u);
  EXPECT_EQ(CountMatches(html, "<circle class=\"point"), 18u);
  // One comparison row per variant, one bar chart per measurement with a bar per layer.
  EXPECT_EQ(CountMatches(html, "<tr class=\"(float|ptq|qat)\""), 14u);
  EXPECT_EQ(CountMatches(html, "data-plot=\"layers\""), 4u);
  EXPECT_EQ(CountMatches(html, "<rect class=\"bar\""), 12u);
  // Training curves: float and the three QAT variants of each job, two epochs, in two charts.
  EXPECT_EQ(CountMatches(html, "<circle class=\"line-point\""), 2u * 2u * 4u * 2u);
  // The latency is named with its board and clock model.
  EXPECT_NE(html.find("mps2-an386 (emulated: qemu icount shift=0, 25 MHz)"), std::string::npos);
}

TEST(HtmlReportTest, MarksThePointsOnTheParetoFrontAndDimsTheOthers) {
  const std::string flash = Plot(RenderHtmlReport({SmallJob("j-aaaaaaaaaaaa")}), "flash");
  // By flash: qat_w2a8 (25 KB, 85%) < qat_w4a8 (50 KB, 96%) < qat_w8a8
  // (100 KB, 97.1%); float (400 KB, 97.0%) is dominated by qat_w8a8.
  std::set<std::string> on_front;
  std::regex point("<circle class=\"point[^\"]*\"[^>]*data-pareto=\"true\"[^>]*data-variant=\"([a-z0-9_]+)\"");
  for (auto it = std::sregex_iterator(flash.begin(), flash.end(), point); it != std::sregex_iterator(); ++it) {
    on_front.insert((*it)[1]);
  }
  EXPECT_EQ(on_front, (std::set<std::string>{"qat_w2a8", "qat_w4a8", "qat_w8a8"}));
  EXPECT_EQ(CountMatches(flash, "<circle class=\"point dominated\""), 4u);
  EXPECT_EQ(CountMatches(flash, "<polyline class=\"pareto\""), 1u);
  // Each point is labelled by its configuration.
  EXPECT_NE(flash.find(">qat w4a8</text>"), std::string::npos);
  EXPECT_NE(flash.find(">fp32</text>"), std::string::npos);
}

TEST(HtmlReportTest, EscapesEveryStringTakenFromTheJobs) {
  ReportedJob job = SmallJob("j-<script>x</script>");
  job.job.set_experiment("a \"quoted\" & <b>bold</b> name");
  job.result.set_experiment(job.job.experiment());
  job.result.mutable_variants(2)->set_name("qat_<img src=x>");
  job.measurements[0].set_board_kind("board\"><script>alert(1)</script>");
  const std::string html = RenderHtmlReport({job}, {"title <i>", "now"});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_NE(html.find("a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt; name"), std::string::npos);
  EXPECT_EQ(EscapeHtml("<a href='x'>&</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(HtmlReportTest, ReferencesNothingOutsideTheFile) {
  const std::string html = RenderHtmlReport({SmallJob("j-aaaaaaaaaaaa"), SmallJob("j-bbbbbbbbbbbb")});
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(SvgChartTest, DegenerateDataStillGetsAxesWithTicks) {
  // One point; equal points; values far larger than their spread.
  for (const std::vector<std::pair<double, double>>& values :
       {std::vector<std::pair<double, double>>{{10, 90}}, {{5, 50}, {5, 50}}, {{1e12, 1}, {1e12 + 1e-3, 2}}}) {
    ScatterChart chart;
    chart.mark_pareto_front = true;
    for (const auto& [x, y] : values) chart.points.push_back({x, y, "p", "s", "", {}});
    const std::string svg = RenderScatterSvg(chart);
    EXPECT_EQ(CountMatches(svg, "<circle class=\"point"), values.size());
    EXPECT_GE(CountMatches(svg, "<text class=\"tick\""), 4u) << svg;
    EXPECT_LE(CountMatches(svg, "<text class=\"tick\""), 250u);
  }
}

TEST(HtmlReportTest, SaysSoWhenNothingWasMeasured) {
  ReportedJob job = SmallJob("j-aaaaaaaaaaaa");
  job.measurements.clear();
  const std::string html = RenderHtmlReport({job});
  EXPECT_EQ(Plot(html, "latency"), "");
  EXPECT_NE(html.find("No variant has been measured"), std::string::npos);
  EXPECT_NE(html.find("No board has reported per-layer cycles"), std::string::npos);
}

}  // namespace
}  // namespace qatlab
