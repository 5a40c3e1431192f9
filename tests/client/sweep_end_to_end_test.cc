// Sweeps end to end: the real qatlab-server with two local workers, a sweep
// of 12 configurations over the cnn preset submitted through the Python API
// example, then read back with qatctl. What must hold: the float model is
// trained exactly once (one baseline job; every grid job names it and its
// float figures are the baseline's, not a training of its own) and all 12
// variants succeed. Then the CLI's sweep forms on a server without workers:
// submit, list, show and cancel a whole sweep, and a bad file's one error.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/mnist.h"
#include "tests/client/running_service.h"

namespace qatlab::testing {
namespace {

using nlohmann::json;
using test_support::ReadWholeFile;
using test_support::RunCommand;

std::string ExamplesDir() { return QATLAB_EXAMPLES_DIR; }

// cnn with the short schedule of tests/support/mnist10k.h (ShortQatSpec: one
// float epoch, batch 32, lr 2e-3; PTQ on 256 images; one QAT epoch at 2e-4),
// on the first 4,000/1,000 digits so 13 jobs fit in about a minute on two
// workers. 3 widths x per-tensor/per-channel x symmetric/asymmetric = 12.
constexpr char kTwelvePointSweep[] = R"({
  "name": "e2e-cnn-12",
  "base": {"experiment": "e2e-sweep", "model": {"preset": "cnn"},
           "data": {"trainLimit": 4000, "testLimit": 1000},
           "training": {"epochs": 1, "batchSize": 32, "learningRate": 0.002},
           "ptq": {"calibrationSamples": 256}, "qat": {"epochs": 1, "learningRate": 0.0002}},
  "grid": {"weight_bits": [8, 4, 2], "per_tensor": [false, true], "symmetric_activations": [false, true]}
})";

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

TEST(SweepEndToEnd, TwelveConfigurationsShareOneFloatTraining) {
  ASSERT_TRUE(EnsureMnist10k(DefaultDataCacheDir()).ok());
  RunningService service({.local_workers = 2, .lease_seconds = 10, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string sweep_file = service.WriteFile("sweep.json", kTwelvePointSweep);
  const std::string out = service.work_dir() + "/sweep-results.json";
  CapturedRun run = RunCommand({"/usr/bin/python3", ExamplesDir() + "/sweep_api.py", "--server", service.address(),
                                "--timeout", "170", "--json-out", out, sweep_file},
                               180s, {{"PYTHONPATH", PythonStubsDir()}, {"QATLAB_TOKEN", ""}});
  ASSERT_EQ(run.exit_status, 0) << run.out << run.err << service.Logs();
  EXPECT_NE(run.out.find("13 of 13 jobs succeeded"), std::string::npos) << run.out;

  json document = json::parse(ReadWholeFile(out));
  const json& sweep = document["sweep"]["sweep"];
  ASSERT_EQ(sweep["baselineJobIds"].size(), 1u) << sweep.dump();
  ASSERT_EQ(sweep["jobIds"].size(), 12u) << sweep.dump();
  const std::string baseline = sweep["baselineJobIds"][0];
  const std::string sweep_id = sweep["id"];

  // One float training: exactly one result trained its float model (it has
  // an epoch history and names no baseline); every other points at it.
  int float_trainings = 0;
  double baseline_float_accuracy = -1;
  std::vector<double> dependent_float_accuracies;
  std::set<std::string> configs;
  ASSERT_EQ(document["results"].size(), 13u);
  for (const json& results : document["results"]) {
    const std::string job_id = results["job"]["id"];
    EXPECT_EQ(results["job"]["state"], "SUCCEEDED") << job_id;
    EXPECT_EQ(results["job"].value("sweepId", ""), sweep_id) << job_id;
    for (const json& variant : results["result"]["variants"]) {
      if (variant["kind"] != "float") {
        configs.insert(variant["config"].get<std::string>());
        EXPECT_GT(variant.value("integerAccuracy", 0.0), 10.0) << job_id << " " << variant.dump();
        continue;
      }
      if (variant.value("baselineJob", "").empty()) {
        ++float_trainings;
        EXPECT_EQ(job_id, baseline);
        EXPECT_EQ(variant["history"].size(), 1u) << variant.dump();
        baseline_float_accuracy = variant["accuracy"].get<double>();
      } else {
        EXPECT_EQ(variant["baselineJob"], baseline) << job_id;
        EXPECT_EQ(results["job"]["spec"]["baselineJob"], baseline) << job_id;
        EXPECT_FALSE(variant.contains("history")) << job_id << " trained a float model";
        dependent_float_accuracies.push_back(variant["accuracy"].get<double>());
      }
    }
  }
  EXPECT_EQ(float_trainings, 1);
  ASSERT_EQ(dependent_float_accuracies.size(), 12u);
  for (double accuracy : dependent_float_accuracies) EXPECT_EQ(accuracy, baseline_float_accuracy);
  EXPECT_EQ(configs.size(), 12u);

  // The CLI reads the same sweep: ls by sweep, show with counts and the best,
  // compare with all 12 configurations and the float model once.
  CapturedRun listed = service.Qatctl({"ls", sweep_id});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_NE(listed.out.find(baseline), std::string::npos) << listed.out;
  CapturedRun shown = service.Qatctl({"show", sweep_id});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_NE(shown.out.find("13 jobs: 13 finished (13 succeeded, 0 failed, 0 cancelled)"), std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("best so far: "), std::string::npos) << shown.out;
  CapturedRun compared = service.Qatctl({"compare", sweep_id});
  EXPECT_EQ(compared.exit_status, 0) << compared.err;
  for (const std::string& config : configs) EXPECT_NE(compared.out.find("qat_" + config), std::string::npos) << config;
  size_t float_rows = 0;
  for (size_t at = compared.out.find(" float "); at != std::string::npos; at = compared.out.find(" float ", at + 1)) {
    ++float_rows;
  }
  EXPECT_EQ(float_rows, 1u) << compared.out;

  // The report of the sweep: every quantized variant of the 12 jobs (PTQ and
  // QAT) and the float model once, as points of the accuracy-against-flash
  // plot, with its Pareto front marked.
  const std::string report = service.work_dir() + "/sweep-report.html";
  CapturedRun reported = service.Qatctl({"report", sweep_id, "-o", report});
  ASSERT_EQ(reported.exit_status, 0) << reported.err;
  const std::string html = ReadWholeFile(report);
  auto count = [&html](const std::string& needle) {
    size_t n = 0;
    for (size_t at = html.find(needle); at != std::string::npos; at = html.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<circle class=\"point"), 2 * 12u + 1) << reported.err;
  EXPECT_GE(count("data-pareto=\"true\""), 1u);
  EXPECT_EQ(count("<polyline class=\"pareto\""), 1u);
  for (const std::string& config : configs) EXPECT_NE(html.find("qat_" + config), std::string::npos) << config;
}

TEST(SweepEndToEnd, QatctlSubmitsListsShowsAndCancelsAWholeSweep) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string file = service.WriteFile("sweep.json", R"({"base": {"model": {"preset": "mlp"}},
      "grid": {"weight_bits": [8, 4], "seed": [1, 2]}})");
  CapturedRun submitted = service.Qatctl({"sweep", file});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  const std::string sweep_id = FirstLine(submitted.out);
  ASSERT_TRUE(sweep_id.starts_with("s-")) << submitted.out;
  EXPECT_NE(submitted.out.find("baseline (seed 2)"), std::string::npos) << submitted.out;
  EXPECT_NE(submitted.out.find("w4a8_s2"), std::string::npos) << submitted.out;

  CapturedRun listed = service.Qatctl({"ls", "--sweep", sweep_id, "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["jobs"].size(), 6u);
  CapturedRun shown = service.Qatctl({"show", sweep_id});
  EXPECT_NE(shown.out.find("6 jobs: 0 finished"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("best so far: none yet"), std::string::npos) << shown.out;

  CapturedRun cancelled = service.Qatctl({"cancel", sweep_id});
  ASSERT_EQ(cancelled.exit_status, 0) << cancelled.err;
  EXPECT_NE(cancelled.out.find("6 jobs: 6 finished (0 succeeded, 0 failed, 6 cancelled)"), std::string::npos)
      << cancelled.out;
  for (const v1::Job& job : service.ListAllJobs()) EXPECT_EQ(job.state(), v1::CANCELLED) << job.id();

  // A bad file: one line, naming the problem; nothing submitted.
  const std::string bad = service.WriteFile("bad.json", R"({"base": {}, "grid": {"bitz": [4]}})");
  CapturedRun refused = service.Qatctl({"sweep", bad});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("unknown axis 'bitz'"), std::string::npos) << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  const std::string empty = service.WriteFile("empty.json", R"({"base": {}, "grid": {}})");
  CapturedRun refused_empty = service.Qatctl({"sweep", empty});
  EXPECT_EQ(refused_empty.exit_status, 1);
  EXPECT_NE(refused_empty.err.find("grid is empty"), std::string::npos) << refused_empty.err;
  EXPECT_EQ(service.ListAllJobs().size(), 6u);
}

}  // namespace
}  // namespace qatlab::testing
