// qatctl's text: number formats, tables, the job a set of flags describes,
// and the plain (non-TTY) progress display. No server needed.
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "client/job_spec_flags.h"
#include "client/progress_view.h"
#include "client/result_view.h"
#include "client/text_table.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

TEST(QatctlText, NumbersReadAsAnEngineerWritesThem) {
  EXPECT_EQ(FormatKilobytes(812), "812 B");
  EXPECT_EQ(FormatKilobytes(110 * 1024 + 512), "110.5 KB");
  EXPECT_EQ(FormatCount(950), "950");
  EXPECT_EQ(FormatCount(12'345), "12.3K");
  EXPECT_EQ(FormatCount(1'234'567), "1.23M");
  EXPECT_EQ(FormatCount(123'456'789), "123M");
  EXPECT_EQ(FormatPercent(97.154), "97.15%");
  EXPECT_EQ(FormatPointsDelta(-2.345), "-2.35");
  EXPECT_EQ(FormatPointsDelta(0.001), "+0.00");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatMicroseconds(12'345), "12.35 ms");
}

TEST(QatctlText, TableAlignsColumnsAndDropsEmptyOnes) {
  TextTable table;
  table.SetColumns({"NAME", "SIZE", "LATENCY"},
                   {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight});
  table.AddRow({"float", "1.0 KB", "-"});
  table.AddRow({"qat_w8a8", "12.5 KB", "-"});
  table.RemoveColumn(2);
  EXPECT_EQ(table.Render(),
            "NAME         SIZE\n"
            "float      1.0 KB\n"
            "qat_w8a8  12.5 KB\n");
}

TEST(QatctlText, BitsFlagBecomesOneConfigPerItem) {
  StatusOr<std::vector<v1::QuantConfig>> configs = ParseBitConfigs("8,w4a8,2,8:4:8");
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  ASSERT_EQ(configs->size(), 4u);
  EXPECT_EQ((*configs)[0].weight_bits(), 8);
  EXPECT_EQ((*configs)[1].weight_bits(), 4);
  EXPECT_EQ((*configs)[1].activation_bits(), 8);
  EXPECT_EQ((*configs)[2].weight_bits(), 2);
  EXPECT_EQ((*configs)[3].layer_weight_bits_size(), 3);
  EXPECT_EQ((*configs)[3].layer_weight_bits(1), 4);

  StatusOr<std::vector<v1::QuantConfig>> bad = ParseBitConfigs("8,x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"x\""), std::string::npos) << bad.status().message();
}

TEST(QatctlText, FlagsOverrideTheJobFile) {
  test_support::TempDir dir;
  std::string path = dir.path() + "/job.json";
  std::ofstream(path) << R"({"experiment": "from-file", "model": {"preset": "cnn"},
                            "training": {"epochs": 10, "batch_size": 32}})";
  SubmitFlags flags;
  flags.job_file = path;
  flags.epochs = 2;
  flags.bits = "4";
  flags.labels = {"owner=ana"};
  StatusOr<v1::JobSpec> spec = BuildJobSpec(flags);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->experiment(), "from-file");
  EXPECT_EQ(spec->model().preset(), "cnn");
  EXPECT_EQ(spec->training().epochs(), 2);
  EXPECT_EQ(spec->training().batch_size(), 32);  // snake_case accepted
  ASSERT_EQ(spec->configs_size(), 1);
  EXPECT_EQ(spec->configs(0).weight_bits(), 4);
  EXPECT_EQ(spec->labels().at("owner"), "ana");

  std::ofstream(path, std::ios::trunc) << R"({"model": {"preset": "cnn"}, "trainig": {}})";
  StatusOr<v1::JobSpec> misspelt = BuildJobSpec(flags);
  ASSERT_FALSE(misspelt.ok());
  EXPECT_EQ(misspelt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(misspelt.status().message().find("trainig"), std::string::npos) << misspelt.status().message();
}

TEST(QatctlText, PlainProgressPrintsOneLinePerEpochWithEta) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  ASSERT_NE(out, nullptr);
  {
    ProgressView view(out, /*redraw_in_place=*/false);
    v1::JobEvent started;
    started.mutable_job()->set_id("j-1");
    started.mutable_job()->set_state(v1::RUNNING);
    started.mutable_job()->mutable_spec()->mutable_training()->set_epochs(4);
    view.OnEvent(started);
    v1::JobEvent epoch;
    *epoch.mutable_job() = started.job();
    epoch.mutable_progress()->set_variant("float");
    epoch.mutable_progress()->set_epoch(1);
    epoch.mutable_progress()->set_epochs(4);
    epoch.mutable_progress()->set_loss(0.5);
    epoch.mutable_progress()->set_test_accuracy(91.5);
    epoch.mutable_progress()->set_seconds(2.0);
    view.OnEvent(epoch);
    EXPECT_EQ(view.state(), v1::RUNNING);
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  EXPECT_NE(text.find("job j-1 RUNNING"), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 1/4"), std::string::npos) << text;
  EXPECT_NE(text.find("test 91.50%"), std::string::npos) << text;
  EXPECT_NE(text.find("eta 6.0 s"), std::string::npos) << text;  // 3 epochs left at 2 s each
  EXPECT_EQ(text.find("\x1b["), std::string::npos) << "no ANSI codes off a terminal";
}

TEST(QatctlText, ComparisonShowsLatencyOnlyWhenMeasured) {
  v1::GetResultsResponse results;
  results.mutable_job()->set_id("j-1");
  auto* baseline = results.mutable_result()->add_variants();
  baseline->set_name("float");
  baseline->set_kind("float");
  baseline->set_accuracy(97.0);
  auto* quantized = results.mutable_result()->add_variants();
  quantized->set_name("qat_w4a8");
  quantized->set_kind("qat");
  quantized->set_weight_bits(4);
  quantized->set_activation_bits(8);
  quantized->set_accuracy(96.5);
  quantized->set_integer_accuracy(96.4);
  quantized->set_agreement(99.0);
  quantized->set_flash_bytes(30 * 1024);
  quantized->set_macs(1'234'567);
  std::string without = RenderComparisonTable({results});
  EXPECT_EQ(without.find("LATENCY"), std::string::npos) << without;
  EXPECT_NE(without.find("-0.50"), std::string::npos) << without;
  EXPECT_NE(without.find("1.23M"), std::string::npos) << without;
  EXPECT_NE(without.find("30.0 KB"), std::string::npos) << without;

  auto* measurement = results.add_measurements();
  measurement->set_variant("qat_w4a8");
  measurement->set_state("SUCCEEDED");
  measurement->mutable_result()->set_median_us(1500);
  measurement->mutable_result()->set_emulated(true);
  measurement->mutable_result()->set_board("mps2-an386");
  measurement->mutable_result()->set_clock_hz(25000000);
  measurement->mutable_result()->set_timing_model("qemu icount shift=0, virtual (instruction-count model)");
  std::string with = RenderComparisonTable({results});
  EXPECT_NE(with.find("LATENCY"), std::string::npos) << with;
  // The latency names its board, and a note its clock model.
  EXPECT_NE(with.find("1.50 ms* mps2-an386"), std::string::npos) << with;
  EXPECT_NE(with.find("*mps2-an386 25 MHz: qemu icount shift=0, virtual (instruction-count model); emulated"),
            std::string::npos)
      << with;
  const std::string single = RenderResultTable(results);
  EXPECT_NE(single.find("1.50 ms* mps2-an386"), std::string::npos) << single;
  EXPECT_NE(single.find("qemu icount shift=0, virtual"), std::string::npos) << single;
}

}  // namespace
}  // namespace qatlab
