// End-to-end stories of the service with real processes on loopback: a
// qatlab-server with a temporary data directory and short leases, real
// qatlab-worker processes, real qatctl and Python client runs. Jobs are tiny
// (MLP, 1,000 training / 500 test digits) so each takes seconds.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/mnist.h"
#include "digest/sha256.h"
#include "tests/client/running_service.h"

namespace qatlab::testing {
namespace {

using nlohmann::json;
using test_support::LoggedChild;
using test_support::ReadWholeFile;
using test_support::RunCommand;

const auto* const kMnistEnvironment = ::testing::AddGlobalTestEnvironment(new MnistCacheEnvironment);

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Submits a job file with qatctl; returns the id it printed ("" on failure).
std::string SubmitWithQatctl(RunningService& service, const std::string& job_file) {
  CapturedRun submitted = service.Qatctl({"submit", job_file});
  EXPECT_EQ(submitted.exit_status, 0) << submitted.err;
  return Trim(submitted.out);
}

bool RunningWithProgress(const v1::Job& job) {
  return job.state() == v1::RUNNING && job.has_last_progress() && job.last_progress().epoch() >= 1;
}

// variant name -> (accuracy, integer accuracy)
std::map<std::string, std::pair<double, double>> Accuracies(const v1::JobResult& result) {
  std::map<std::string, std::pair<double, double>> accuracies;
  for (const auto& variant : result.variants()) {
    accuracies[variant.name()] = {variant.accuracy(), variant.integer_accuracy()};
  }
  return accuracies;
}

// The story every user follows: submit a job file, follow its progress, read
// the results as a table, as JSON, and from Python, download a model.
TEST(ServiceEndToEnd, SubmitWatchShowCompareDownloadAndPythonSweep) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  std::string job_file = service.WriteFile("job.json", TinyJobJson("e2e-basic", 1, 1));

  // submit --watch --json: the id, then one JSON event per line.
  CapturedRun watched = service.Qatctl({"submit", job_file, "--watch", "--json"}, 120s);
  ASSERT_EQ(watched.exit_status, 0) << watched.err << service.Logs();
  std::vector<std::string> lines = Lines(watched.out);
  ASSERT_GE(lines.size(), 2u) << watched.out;
  std::string job_id = lines[0];
  int progress_events = 0;
  std::string last_state;
  for (size_t i = 1; i < lines.size(); ++i) {
    json event = json::parse(lines[i]);
    if (event.contains("progress") && !event["progress"].value("variant", "").empty()) ++progress_events;
    if (event.contains("job")) last_state = event["job"].value("state", "");
  }
  EXPECT_GE(progress_events, 1) << watched.out;
  EXPECT_EQ(last_state, "SUCCEEDED") << watched.out;

  // show --json: the result, with every variant.
  CapturedRun shown = service.Qatctl({"show", job_id, "--json"});
  ASSERT_EQ(shown.exit_status, 0) << shown.err;
  json results = json::parse(shown.out);
  EXPECT_EQ(results["job"]["state"], "SUCCEEDED");
  std::set<std::string> variants;
  for (const auto& variant : results["result"]["variants"]) {
    variants.insert(variant["name"].get<std::string>());
    EXPECT_GT(variant["accuracy"].get<double>(), 50.0) << variant.dump();
  }
  EXPECT_EQ(variants, (std::set<std::string>{"float", "ptq_w8a8", "qat_w8a8"}));

  // The human forms: watch of a finished job ends with the result table and
  // exit 0; compare has no latency column (nothing was measured).
  CapturedRun replay = service.Qatctl({"watch", job_id});
  EXPECT_EQ(replay.exit_status, 0) << replay.err;
  EXPECT_NE(replay.out.find("SUCCEEDED"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("qat_w8a8"), std::string::npos) << replay.out;
  CapturedRun compared = service.Qatctl({"compare", job_id});
  EXPECT_EQ(compared.exit_status, 0) << compared.err;
  EXPECT_NE(compared.out.find("ptq_w8a8"), std::string::npos) << compared.out;
  EXPECT_EQ(compared.out.find("LATENCY"), std::string::npos) << compared.out;
  CapturedRun listed = service.Qatctl({"ls", "--state", "succeeded", "--label", "suite=client-e2e"});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_NE(listed.out.find(job_id), std::string::npos) << listed.out;

  // The QAT model downloads intact: its sha256 is the one in the result.
  std::string model_path = service.work_dir() + "/qat.qmodel";
  CapturedRun downloaded = service.Qatctl({"artifacts", "get", job_id, "qat_w8a8.qmodel", "-o", model_path});
  ASSERT_EQ(downloaded.exit_status, 0) << downloaded.err;
  std::string expected_sha256;
  for (const auto& variant : results["result"]["variants"]) {
    if (variant["name"] == "qat_w8a8") expected_sha256 = variant["artifactSha256"].get<std::string>();
  }
  StatusOr<std::string> actual_sha256 = Sha256OfFile(model_path);
  ASSERT_TRUE(actual_sha256.ok());
  EXPECT_EQ(*actual_sha256, expected_sha256);

  // Python: the example sweep runs the same tiny job through the generated
  // stubs; the engine is deterministic, so its accuracies equal the first's.
  // It exports the quantized models it made (ExportModel) as .qmodel files,
  // each the artifact's exact bytes.
  std::string sweep_json = service.work_dir() + "/sweep.json";
  std::string export_dir = service.work_dir() + "/sweep-exports";
  CapturedRun sweep = RunCommand({"/usr/bin/python3", SweepScript(), "--server",     service.address(),
                                  "--presets",        "mlp",         "--bits",       "8",
                                  "--epochs",         "1",           "--qat-epochs", "1",
                                  "--train-limit",    "1000",        "--test-limit", "500",
                                  "--experiment",     "e2e-sweep",   "--timeout",    "120",
                                  "--json-out",       sweep_json,    "--export-dir", export_dir},
                                 150s, {{"PYTHONPATH", PythonStubsDir()}, {"QATLAB_TOKEN", ""}});
  ASSERT_EQ(sweep.exit_status, 0) << sweep.out << sweep.err << service.Logs();
  EXPECT_NE(sweep.out.find("qat_w8a8"), std::string::npos) << sweep.out;
  json sweep_results = json::parse(ReadWholeFile(sweep_json));
  ASSERT_EQ(sweep_results.size(), 1u);
  EXPECT_EQ(sweep_results[0]["job"]["state"], "SUCCEEDED");
  std::map<std::string, double> first_accuracy;
  for (const auto& variant : results["result"]["variants"]) {
    first_accuracy[variant["name"]] = variant["accuracy"].get<double>();
  }
  const std::string sweep_job = sweep_results[0]["job"]["id"];
  int exported = 0;
  for (const auto& variant : sweep_results[0]["result"]["variants"]) {
    EXPECT_EQ(variant.value("accuracy", 0.0), first_accuracy[variant["name"]]) << variant["name"];
    if (variant["kind"] == "float") continue;
    const std::string path = fmt::format("{}/{}-{}.qmodel", export_dir, sweep_job, variant["name"].get<std::string>());
    StatusOr<std::string> exported_sha256 = Sha256OfFile(path);
    ASSERT_TRUE(exported_sha256.ok()) << exported_sha256.status().ToString() << sweep.out;
    EXPECT_EQ(*exported_sha256, variant["artifactSha256"].get<std::string>()) << path;
    ++exported;
  }
  EXPECT_EQ(exported, 2) << sweep.out;
}

// A worker dies (SIGKILL) mid-training: the lease runs out, another worker
// takes the job again, and the result equals that of an undisturbed run.
TEST(ServiceEndToEnd, WorkerKilledMidTrainingIsReleasedAndMatchesUndisturbedRun) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  LoggedChild* first_worker = service.StartWorker("w-first");
  std::string job_file = service.WriteFile("job.json", TinyJobJson("e2e-kill-worker", 40, 1));

  std::string reference_id = SubmitWithQatctl(service, job_file);
  ASSERT_TRUE(service.WaitForJob(reference_id, IsFinal, 90s, "finished"));
  std::optional<v1::GetResultsResponse> reference = service.GetResults(reference_id);
  ASSERT_TRUE(reference && reference->job().state() == v1::SUCCEEDED) << service.Logs();

  std::string job_id = SubmitWithQatctl(service, job_file);
  ASSERT_TRUE(service.WaitForJob(job_id, RunningWithProgress, 60s, "running with progress"));
  first_worker->Signal(SIGKILL);
  ASSERT_TRUE(first_worker->WaitFor(5s));
  service.StartWorker("w-second");

  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, 90s, "finished after the worker died");
  ASSERT_TRUE(job);
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->ShortDebugString() << service.Logs();
  EXPECT_EQ(job->attempt(), 2);
  EXPECT_EQ(job->worker_id(), "w-second");
  std::optional<v1::GetResultsResponse> results = service.GetResults(job_id);
  ASSERT_TRUE(results);
  EXPECT_EQ(Accuracies(results->result()), Accuracies(reference->result()));
  EXPECT_EQ(results->result().variants_size(), 3);
}

// The server dies (SIGKILL) with jobs queued and running and comes back on
// the same data directory: every accepted job finishes, exactly once.
TEST(ServiceEndToEnd, ServerKilledAndRestartedFinishesEveryJobExactlyOnce) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  service.StartWorker("w-a");
  service.StartWorker("w-b");
  std::vector<std::string> job_ids;
  for (int seed = 1; seed <= 4; ++seed) {
    std::string job_file =
        service.WriteFile("job" + std::to_string(seed) + ".json", TinyJobJson("e2e-kill-server", 15, 1, seed));
    job_ids.push_back(SubmitWithQatctl(service, job_file));
    ASSERT_FALSE(job_ids.back().empty());
  }
  ASSERT_TRUE(service.WaitForJob(job_ids[0], RunningWithProgress, 60s, "running with progress"));
  std::optional<v1::Job> last_queued = service.GetJob(job_ids.back());
  ASSERT_TRUE(last_queued);
  EXPECT_EQ(last_queued->state(), v1::QUEUED) << "the story needs a queued job when the server dies";
  service.KillServer();  // returns once the process is gone and every connection with it
  ASSERT_TRUE(service.StartServer());

  for (const auto& id : job_ids) {
    std::optional<v1::Job> job = service.WaitForJob(id, IsFinal, 120s, "finished after the restart");
    ASSERT_TRUE(job);
    EXPECT_EQ(job->state(), v1::SUCCEEDED) << job->ShortDebugString();
  }
  // Exactly the accepted jobs, each with one result holding each variant
  // once; and no worker completed any job twice.
  std::vector<v1::Job> listed = service.ListAllJobs();
  std::multiset<std::string> listed_ids;
  for (const auto& job : listed) listed_ids.insert(job.id());
  EXPECT_EQ(listed_ids, std::multiset<std::string>(job_ids.begin(), job_ids.end()));
  std::string logs = service.Logs();
  for (const auto& id : job_ids) {
    std::optional<v1::GetResultsResponse> results = service.GetResults(id);
    ASSERT_TRUE(results) << id;
    std::multiset<std::string> variants;
    for (const auto& variant : results->result().variants()) variants.insert(variant.name());
    EXPECT_EQ(variants, (std::multiset<std::string>{"float", "ptq_w8a8", "qat_w8a8"})) << id;
    size_t completions = 0;
    for (size_t at = logs.find("job " + id + " completed"); at != std::string::npos;
         at = logs.find("job " + id + " completed", at + 1)) {
      ++completions;
    }
    EXPECT_LE(completions, 1u) << id;
  }
}

// Cancelling a queued job ends it at once; cancelling a running one stops
// its worker within seconds, and that worker takes the next job.
TEST(ServiceEndToEnd, CancelQueuedAndRunningJobsFreesTheWorker) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  service.StartWorker("w-only");
  std::string long_id = SubmitWithQatctl(service, service.WriteFile("long.json", TinyJobJson("e2e-cancel", 100, 1)));
  std::string queued_id = SubmitWithQatctl(service, service.WriteFile("queued.json", TinyJobJson("e2e-cancel", 1, 1)));
  std::string next_id = SubmitWithQatctl(service, service.WriteFile("next.json", TinyJobJson("e2e-cancel", 1, 1, 7)));
  ASSERT_TRUE(service.WaitForJob(long_id, RunningWithProgress, 60s, "running with progress"));

  CapturedRun cancel_queued = service.Qatctl({"cancel", queued_id});
  EXPECT_EQ(cancel_queued.exit_status, 0) << cancel_queued.err;
  std::optional<v1::Job> queued = service.GetJob(queued_id);
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->state(), v1::CANCELLED);

  auto cancelled_at = std::chrono::steady_clock::now();
  CapturedRun cancel_running = service.Qatctl({"cancel", long_id});
  EXPECT_EQ(cancel_running.exit_status, 0) << cancel_running.err;
  std::optional<v1::Job> stopped = service.WaitForJob(long_id, IsFinal, 10s, "cancelled");
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->state(), v1::CANCELLED);
  std::optional<v1::Job> next = service.WaitForJob(
      next_id, [](const v1::Job& job) { return job.state() != v1::QUEUED; }, 10s, "leased");
  ASSERT_TRUE(next);
  auto freed_after = std::chrono::steady_clock::now() - cancelled_at;
  // A heartbeat a second at most, the engine stops within a batch: the
  // worker must have moved on within about two seconds (3 s with slack).
  EXPECT_LT(freed_after, 3s);
  ::testing::Test::RecordProperty(
      "worker_free_after_cancel_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(freed_after).count()));
  EXPECT_EQ(next->worker_id(), "w-only");
  next = service.WaitForJob(next_id, IsFinal, 60s, "finished");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->state(), v1::SUCCEEDED);

  // Following a cancelled job ends non-zero and says so.
  CapturedRun watch_cancelled = service.Qatctl({"watch", long_id});
  EXPECT_NE(watch_cancelled.exit_status, 0);
  EXPECT_NE(watch_cancelled.err.find("CANCELLED"), std::string::npos) << watch_cancelled.err;
}

// SIGTERM: the worker gives its job back at once (no waiting for the lease)
// and exits; another worker finishes the job.
TEST(ServiceEndToEnd, WorkerSigtermGivesItsJobBack) {
  // A long lease: a job back in the queue within seconds was given back,
  // not expired.
  RunningService service({.local_workers = 0, .lease_seconds = 30, .token = ""});
  ASSERT_TRUE(service.StartServer());
  LoggedChild* worker = service.StartWorker("w-leaving");
  std::string job_id = SubmitWithQatctl(service, service.WriteFile("job.json", TinyJobJson("e2e-sigterm", 60, 1)));
  ASSERT_TRUE(service.WaitForJob(job_id, RunningWithProgress, 60s, "running with progress"));

  worker->Signal(SIGTERM);
  std::optional<int> exit_status = worker->WaitFor(8s);
  ASSERT_TRUE(exit_status) << "worker still running 8 s after SIGTERM\n" << service.Logs();
  EXPECT_EQ(*exit_status, 0) << worker->Log();
  std::optional<v1::Job> back = service.WaitForJob(
      job_id, [](const v1::Job& job) { return job.state() == v1::QUEUED; }, 3s, "queued again");
  ASSERT_TRUE(back);

  service.StartWorker("w-staying");
  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, 60s, "finished by the second worker");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state(), v1::SUCCEEDED);
  EXPECT_EQ(job->worker_id(), "w-staying");
  EXPECT_EQ(job->attempt(), 1) << "a job given back must not use up an attempt";
}

// Data sets uploaded with qatctl reach workers through FetchDataset and land
// in their cache under their sha256; a job naming them as dataset:<name>
// trains on them.
TEST(ServiceEndToEnd, UploadedDatasetsAreFetchedIntoTheWorkerCache) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  StatusOr<std::string> mnist_dir = EnsureMnist10k(DefaultDataCacheDir());
  ASSERT_TRUE(mnist_dir.ok()) << mnist_dir.status().ToString();
  const char* names[] = {"digits-train-images", "digits-train-labels", "digits-test-images", "digits-test-labels"};
  for (size_t i = 0; i < kMnist10kFiles.size(); ++i) {
    CapturedRun uploaded =
        service.Qatctl({"datasets", "upload", names[i], *mnist_dir + "/" + kMnist10kFiles[i].name, "--format", "idx"});
    ASSERT_EQ(uploaded.exit_status, 0) << uploaded.err;
  }
  CapturedRun listed = service.Qatctl({"datasets", "ls", "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["datasets"].size(), 4u) << listed.out;

  std::string cache = service.work_dir() + "/worker-cache";
  service.StartWorker("w-data", {"--data-cache", cache});
  std::string job_file = service.WriteFile("job.json", R"({
    "experiment": "e2e-datasets",
    "model": {"preset": "mlp"},
    "data": {"source": "idx", "trainImages": "dataset:digits-train-images",
             "trainLabels": "dataset:digits-train-labels", "testImages": "dataset:digits-test-images",
             "testLabels": "dataset:digits-test-labels", "trainLimit": 1000, "testLimit": 500},
    "training": {"epochs": 1}, "qat": {"epochs": 1}})");
  std::string job_id = SubmitWithQatctl(service, job_file);
  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, 60s, "finished");
  ASSERT_TRUE(job);
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->ShortDebugString() << service.Logs();
  for (const auto& file : kMnist10kFiles) {
    EXPECT_TRUE(std::filesystem::exists(cache + "/datasets/" + file.sha256)) << file.name;
  }
}

// Failures read as one line naming the code and what is wrong, exit non-zero;
// with a token configured, calls without it are refused.
TEST(ServiceEndToEnd, QatctlErrorsAreOneLineWithTheCode) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = "e2e-secret"});
  ASSERT_TRUE(service.StartServer());

  CapturedRun unknown = service.Qatctl({"show", "j-does-not-exist"});
  EXPECT_NE(unknown.exit_status, 0);
  EXPECT_EQ(unknown.err.rfind("qatctl: error: NOT_FOUND: ", 0), 0u) << unknown.err;
  EXPECT_NE(unknown.err.find("j-does-not-exist"), std::string::npos) << unknown.err;
  EXPECT_EQ(Lines(unknown.err).size(), 1u) << unknown.err;

  CapturedRun cancel_unknown = service.Qatctl({"cancel", "j-does-not-exist"});
  EXPECT_NE(cancel_unknown.exit_status, 0);
  EXPECT_EQ(cancel_unknown.err.rfind("qatctl: error: NOT_FOUND: ", 0), 0u) << cancel_unknown.err;

  // A value out of range: the server names the field.
  std::string bad_bits =
      service.WriteFile("bad_bits.json", R"({"model": {"preset": "mlp"}, "configs": [{"weightBits": 12}]})");
  CapturedRun rejected = service.Qatctl({"submit", bad_bits});
  EXPECT_NE(rejected.exit_status, 0);
  EXPECT_EQ(rejected.err.rfind("qatctl: error: INVALID_ARGUMENT: ", 0), 0u) << rejected.err;
  EXPECT_NE(rejected.err.find("weight_bits"), std::string::npos) << rejected.err;
  EXPECT_EQ(Lines(rejected.err).size(), 1u) << rejected.err;

  // A misspelt field: refused before anything is sent, naming it.
  std::string misspelt = service.WriteFile("misspelt.json", R"({"modle": {"preset": "mlp"}})");
  CapturedRun unparsed = service.Qatctl({"submit", misspelt});
  EXPECT_NE(unparsed.exit_status, 0);
  EXPECT_EQ(unparsed.err.rfind("qatctl: error: INVALID_ARGUMENT: ", 0), 0u) << unparsed.err;
  EXPECT_NE(unparsed.err.find("modle"), std::string::npos) << unparsed.err;

  // Nothing was stored by the refused submissions.
  CapturedRun listed = service.Qatctl({"ls", "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_TRUE(json::parse(listed.out)["jobs"].empty()) << listed.out;

  CapturedRun no_token = service.Qatctl({"ls"}, 30s, /*with_token=*/false);
  EXPECT_NE(no_token.exit_status, 0);
  EXPECT_EQ(no_token.err.rfind("qatctl: error: UNAUTHENTICATED", 0), 0u) << no_token.err;
}

}  // namespace
}  // namespace qatlab::testing
