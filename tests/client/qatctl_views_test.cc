// qatctl's live views and new text, with no server: the phases watch infers,
// lines that fit a width, several jobs at once, the measurements and
// per-layer cycles of `show`, compare's settings that differ, the config
// file's precedence and errors, and unknown-command suggestions.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "client/cli_config.h"
#include "client/command_tree.h"
#include "client/job_set_view.h"
#include "client/progress_view.h"
#include "client/result_view.h"
#include "client/text_table.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

v1::Job RunningJob() {
  v1::Job job;
  job.set_id("j-views");
  job.set_state(v1::RUNNING);
  job.set_experiment("an experiment name long enough to need cutting at forty columns");
  job.mutable_spec()->mutable_training()->set_epochs(2);
  job.mutable_spec()->mutable_qat()->set_epochs(2);
  auto* config = job.mutable_spec()->add_configs();
  config->set_weight_bits(8);
  config->set_activation_bits(8);
  return job;
}

v1::JobEvent Epoch(const v1::Job& job, const std::string& variant, int epoch, int epochs) {
  v1::JobEvent event;
  *event.mutable_job() = job;
  event.mutable_progress()->set_variant(variant);
  event.mutable_progress()->set_epoch(epoch);
  event.mutable_progress()->set_epochs(epochs);
  event.mutable_progress()->set_loss(0.25);
  event.mutable_progress()->set_test_accuracy(90);
  event.mutable_progress()->set_seconds(1.5);
  return event;
}

bool HasLine(const std::vector<std::string>& lines, const std::string& start) {
  for (const auto& line : lines) {
    if (line.rfind(start, 0) == 0) return true;
  }
  return false;
}

TEST(QatctlViews, WatchShowsThePhasesBetweenEpochs) {
  ProgressView view(nullptr, true);
  v1::JobEvent started;
  *started.mutable_job() = RunningJob();
  view.OnEvent(started);
  EXPECT_TRUE(HasLine(view.Lines(0), "  float     starting")) << view.Lines(0)[1];

  view.OnEvent(Epoch(RunningJob(), "float", 2, 2));
  // The float's last epoch is in: PTQ calibrates and exports next.
  EXPECT_TRUE(HasLine(view.Lines(0), "  ptq_w8a8  calibrating, exporting"));
  EXPECT_TRUE(HasLine(view.Lines(0), "  qat_w8a8  waiting"));

  view.OnEvent(Epoch(RunningJob(), "qat_w8a8", 2, 2));
  EXPECT_TRUE(HasLine(view.Lines(0), "  ptq_w8a8  done"));
  std::vector<std::string> lines = view.Lines(0);
  EXPECT_NE(lines.back().find("exporting"), std::string::npos) << lines.back();

  // Every line fits a narrow terminal; the essential parts stay.
  for (const std::string& line : view.Lines(40)) EXPECT_LE(DisplayWidth(line), 40u) << line;
  EXPECT_TRUE(HasLine(view.Lines(40), "  qat_w8a8  epoch 2/2  test 90.00%"));
}

TEST(QatctlViews, LateWatchMarksEarlierVariantsDoneAndFollowsMeasurements) {
  v1::Job job = RunningJob();
  job.mutable_last_progress()->set_variant("qat_w8a8");
  job.mutable_last_progress()->set_epoch(1);
  job.mutable_last_progress()->set_epochs(2);
  ProgressView view(nullptr, true);
  v1::JobEvent current;
  *current.mutable_job() = job;
  current.set_message("current state");
  view.OnEvent(current);
  EXPECT_TRUE(HasLine(view.Lines(0), "  float     done"));
  EXPECT_TRUE(HasLine(view.Lines(0), "  ptq_w8a8  done"));
  EXPECT_TRUE(HasLine(view.Lines(0), "  qat_w8a8  epoch 1/2"));

  v1::GetResultsResponse results;
  auto* queued = results.add_measurements();
  queued->set_id("m-1");
  queued->set_variant("qat_w8a8");
  queued->set_board_kind("mps2-an386");
  queued->set_state("QUEUED");
  auto* done = results.add_measurements();
  done->set_id("m-2");
  done->set_variant("ptq_w8a8");
  done->set_board_kind("mps2-an386");
  done->set_state("SUCCEEDED");
  done->mutable_result()->set_median_us(1500);
  done->mutable_result()->set_emulated(true);
  view.OnMeasurements(results);
  EXPECT_TRUE(HasLine(view.Lines(0), "  measure qat_w8a8 on mps2-an386  QUEUED"));
  EXPECT_TRUE(HasLine(view.Lines(0), "  measure ptq_w8a8 on mps2-an386  SUCCEEDED  1.50 ms*"));
}

TEST(QatctlViews, SeveralJobsShowCountsAndTheBestResult) {
  JobSetView view({"j-a", "j-b", "j-c"}, nullptr, true);
  v1::Job running = RunningJob();
  running.set_id("j-a");
  running.mutable_last_progress()->set_variant("float");
  running.mutable_last_progress()->set_epoch(1);
  running.mutable_last_progress()->set_epochs(2);
  view.OnJob(running);
  v1::GetResultsResponse succeeded;
  succeeded.mutable_job()->set_id("j-b");
  succeeded.mutable_job()->set_state(v1::SUCCEEDED);
  for (auto [name, accuracy] : std::vector<std::pair<std::string, double>>{{"ptq_w8a8", 91}, {"qat_w8a8", 95}}) {
    auto* variant = succeeded.mutable_result()->add_variants();
    variant->set_name(name);
    variant->set_kind(name.substr(0, 3));
    variant->set_accuracy(accuracy);
  }
  view.OnResults(succeeded);
  v1::Job failed;
  failed.set_id("j-c");
  failed.set_state(v1::FAILED);
  failed.set_error("baseline failed");
  view.OnJob(failed);

  std::vector<std::string> lines = view.Lines(80);
  EXPECT_EQ(lines[0], "3 jobs: 2 finished (1 succeeded, 1 failed, 0 cancelled), 1 running, 0 queued");
  EXPECT_EQ(lines[1], "best so far: qat_w8a8 95.00%  job j-b");
  EXPECT_EQ(lines[2], "  j-a  RUNNING    float epoch 1/2  test 0.00%");
  EXPECT_EQ(lines[4], "  j-c  FAILED     baseline failed");
  EXPECT_FALSE(view.AllFinal());
}

TEST(QatctlViews, ResultTableFitsAWidthByDroppingColumns) {
  v1::GetResultsResponse results;
  auto* variant = results.mutable_result()->add_variants();
  variant->set_name("qat_w8a8");
  variant->set_kind("qat");
  variant->set_weight_bits(8);
  variant->set_activation_bits(8);
  variant->set_accuracy(97.25);
  variant->set_flash_bytes(30000);
  variant->set_macs(123456);
  variant->set_parameters(123456);
  variant->set_train_seconds(12);
  const std::string wide = RenderResultTable(results);
  EXPECT_NE(wide.find("PARAMS"), std::string::npos);
  const std::string narrow = RenderResultTable(results, 60);
  for (const auto& line : {narrow.substr(0, narrow.find('\n'))}) EXPECT_LE(DisplayWidth(line), 60u);
  EXPECT_EQ(narrow.find("PARAMS  "), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("ACCURACY"), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("(not shown at 60 columns: PARAMS"), std::string::npos) << narrow;
  EXPECT_EQ(FitToWidth("abcdef", 4), "abc…");
}

TEST(QatctlViews, ShowListsEveryMeasurementAndPerLayerCycles) {
  v1::GetResultsResponse results;
  auto* failed = results.add_measurements();
  failed->set_id("m-1");
  failed->set_variant("qat_w4a8");
  failed->set_board_kind("netduinoplus2");
  failed->set_state("FAILED");
  failed->set_error("model does not fit in flash");
  auto* done = results.add_measurements();
  done->set_id("m-2");
  done->set_variant("qat_w8a8");
  done->set_board_kind("mps2-an386");
  done->set_device_id("d-1");
  done->set_state("SUCCEEDED");
  auto* result = done->mutable_result();
  result->set_board("mps2-an386");
  result->set_median_us(2000);
  result->set_clock_hz(25000000);
  result->set_accuracy_samples(100);
  result->set_device_accuracy(97);
  result->set_checked_inputs(10);
  result->set_bit_exact_inputs(10);
  for (auto [op, cycles] : std::vector<std::pair<std::string, uint64_t>>{{"conv2d", 300}, {"dense", 100}}) {
    auto* layer = result->add_layers();
    layer->set_index(result->layers_size() - 1);
    layer->set_op(op);
    layer->set_cycles(cycles);
  }
  const std::string table = RenderMeasurementTable(results);
  EXPECT_NE(table.find("model does not fit in flash"), std::string::npos) << table;
  EXPECT_NE(table.find("97.00% of 100"), std::string::npos) << table;
  EXPECT_NE(table.find("10/10"), std::string::npos) << table;
  const std::string layers = RenderLayerCycles(results);
  EXPECT_NE(layers.find("qat_w8a8 on mps2-an386 (d-1, 25 MHz, 400 cycles in layers)"), std::string::npos) << layers;
  EXPECT_NE(layers.find("75.0%"), std::string::npos) << layers;
}

TEST(QatctlViews, CompareNamesTheSettingsThatDiffer) {
  v1::GetResultsResponse a, b;
  a.mutable_job()->set_id("j-a");
  b.mutable_job()->set_id("j-b");
  for (auto* results : {&a, &b}) {
    results->mutable_job()->mutable_spec()->mutable_training()->set_epochs(5);
    results->mutable_job()->mutable_spec()->add_configs()->set_weight_bits(8);
  }
  a.mutable_job()->mutable_spec()->set_seed(1);
  b.mutable_job()->mutable_spec()->set_seed(2);
  b.mutable_job()->mutable_spec()->mutable_configs(0)->set_weight_bits(4);
  const std::string text = RenderSettingsThatDiffer({a, b});
  EXPECT_NE(text.find("settings that differ:"), std::string::npos) << text;
  EXPECT_NE(text.find("configs[0].weightBits  8    4"), std::string::npos) << text;
  EXPECT_NE(text.find("seed"), std::string::npos) << text;
  EXPECT_EQ(text.find("training.epochs"), std::string::npos) << text;
  EXPECT_EQ(RenderSettingsThatDiffer({a, a}), "");
}

TEST(QatctlViews, ConfigFilePrecedenceAndErrors) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/config.json";
  std::ofstream(path) << R"({"server": "from-file:1", "token_file": "token", "timeout_seconds": 7,
                             "tls": {"ca": "ca.pem", "server_name": "qatlab"}})";
  std::ofstream(dir.path() + "/token") << "file-token\n";
  std::map<std::string, std::string> variables;
  EnvironmentLookup env = [&variables](const char* name) -> const char* {
    auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  };
  StatusOr<CliConfig> config = LoadCliConfig({path, true}, env);
  ASSERT_TRUE(config.ok()) << config.status().ToString();

  ConnectionFlags flags;
  StatusOr<ResolvedConnection> resolved = ResolveConnection(flags, *config, env);
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(resolved->address, "from-file:1");
  EXPECT_EQ(resolved->token, "file-token");  // token_file relative to the file's folder
  EXPECT_EQ(resolved->timeout_ms, 7000);
  EXPECT_EQ(resolved->tls.ca_file, dir.path() + "/ca.pem");
  EXPECT_EQ(resolved->tls.server_name, "qatlab");

  variables["QATLAB_SERVER"] = "from-env:2";
  variables["QATLAB_TLS_CA"] = "/env/ca.pem";
  resolved = ResolveConnection(flags, *config, env);
  EXPECT_EQ(resolved->address, "from-env:2");
  EXPECT_EQ(resolved->tls.ca_file, "");  // left to the environment
  flags.server = "from-flag:3";
  flags.timeout_seconds = 2;
  resolved = ResolveConnection(flags, *config, env);
  EXPECT_EQ(resolved->address, "from-flag:3");
  EXPECT_EQ(resolved->timeout_ms, 2000);

  // The default place, and a missing default file is no error.
  variables["XDG_CONFIG_HOME"] = "/xdg";
  EXPECT_EQ(FindConfigFile("", env).path, "/xdg/qatlab/config.json");
  EXPECT_FALSE(FindConfigFile("", env).required);
  EXPECT_TRUE(LoadCliConfig({dir.path() + "/none.json", false}, env).ok());

  // Bad files: the file and the problem.
  std::ofstream(path, std::ios::trunc) << R"({"server": 5})";
  StatusOr<CliConfig> wrong_type = LoadCliConfig({path, true}, env);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.status().message().find("config file " + path + ": \"server\" must be a non-empty string"),
            std::string::npos)
      << wrong_type.status().message();
  std::ofstream(path, std::ios::trunc) << "{\"server\": \"a\",\n\"tls\": {\"verify\": true}}";
  StatusOr<CliConfig> unknown = LoadCliConfig({path, true}, env);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key \"tls.verify\""), std::string::npos)
      << unknown.status().message();
  std::ofstream(path, std::ios::trunc) << "{\"server\": \"a\",\n  \"token\" \"x\"}";
  StatusOr<CliConfig> not_json = LoadCliConfig({path, true}, env);
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.status().message().find("line 2"), std::string::npos) << not_json.status().message();
  // A token in a file others may read is refused.
  std::ofstream(path, std::ios::trunc) << R"({"token": "secret"})";
  ::chmod(path.c_str(), 0644);
  StatusOr<CliConfig> readable = LoadCliConfig({path, true}, env);
  ASSERT_FALSE(readable.ok());
  EXPECT_NE(readable.status().message().find("chmod 600"), std::string::npos) << readable.status().message();
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(LoadCliConfig({path, true}, env).ok());
}

TEST(QatctlViews, UnknownCommandsGetTheClosestName) {
  CLI::App app{"test"};
  app.name("qatctl");
  app.require_subcommand(1);
  std::string server;
  bool json = false;
  app.add_option("--server", server);
  app.add_flag("--json", json);
  auto* artifacts = app.add_subcommand("artifacts");
  artifacts->require_subcommand(1);
  artifacts->add_subcommand("ls");
  app.add_subcommand("compare");
  EXPECT_EQ(UnknownCommandError(app, {"compar"}),
            "unknown command \"compar\" for \"qatctl\"; did you mean \"compare\"?");
  // A flag's value is not a command.
  EXPECT_EQ(UnknownCommandError(app, {"--server", "artifactz", "compare"}), std::nullopt);
  // A flag takes no value: what follows it is the command.
  EXPECT_EQ(UnknownCommandError(app, {"--json", "compare", "j-1"}), std::nullopt);
  EXPECT_EQ(UnknownCommandError(app, {"--json", "compar"}),
            "unknown command \"compar\" for \"qatctl\"; did you mean \"compare\"?");
  EXPECT_EQ(UnknownCommandError(app, {"artifacts", "sl"}),
            "unknown command \"sl\" for \"qatctl artifacts\"; did you mean \"ls\"?");
  EXPECT_EQ(UnknownCommandError(app, {"xyzzy"}), "unknown command \"xyzzy\" for \"qatctl\"");
  EXPECT_EQ(ClosestName("ls", {"ls", "show"}), "ls");
}

}  // namespace
}  // namespace qatlab
