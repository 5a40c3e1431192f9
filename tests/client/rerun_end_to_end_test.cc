// Re-runs and worker logs with real processes on loopback: a qatlab-server
// with one local worker, qatctl as the user runs it.
//   - a job and its re-run give byte-identical .qmodel files (downloaded and
//     compared), and the re-run carries rerun_of;
//   - a job over uploaded data sets is refused a re-run once a data set's
//     content under its name changed (the database edited while the server
//     is down, as a restore from another backup would), naming the file and
//     both sums; --allow-changed-data submits it anyway;
//   - `qatctl logs` prints the worker's log of a succeeded and of a failed
//     job, says "no log yet" for one not started, and the log never shows
//     up as a model in `qatctl artifacts ls`.
#include <sqlite3.h>

#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "data/mnist.h"
#include "digest/sha256.h"
#include "tests/client/running_service.h"

namespace qatlab::testing {
namespace {

using test_support::ReadWholeFile;

const auto* const kMnistEnvironment = ::testing::AddGlobalTestEnvironment(new MnistCacheEnvironment);

std::optional<v1::Job> WaitForEnd(RunningService& service, const std::string& job_id) {
  return service.WaitForJob(job_id, IsFinal, 120s, "job " + job_id + " to end");
}

// name -> bytes of every .qmodel the job's result names, downloaded with
// `qatctl artifacts get`.
std::map<std::string, std::string> DownloadModels(RunningService& service, const std::string& job_id) {
  std::map<std::string, std::string> models;
  std::optional<v1::GetResultsResponse> results = service.GetResults(job_id);
  EXPECT_TRUE(results.has_value());
  if (!results) return models;
  for (const v1::VariantResult& variant : results->result().variants()) {
    if (variant.artifact().empty()) continue;
    const std::string& name = variant.artifact();
    const std::string path = fmt::format("{}/{}-{}", service.work_dir(), job_id, name);
    CapturedRun got = service.Qatctl({"artifacts", "get", job_id, name, "-o", path});
    EXPECT_EQ(got.exit_status, 0) << got.err;
    models[name] = ReadWholeFile(path);
    EXPECT_EQ(Sha256Hex(models[name]), variant.artifact_sha256()) << name;
  }
  return models;
}

TEST(RerunEndToEnd, RerunGivesByteIdenticalModels) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string job_file = service.WriteFile("job.json", TinyJobJson("rerun-identical", 1, 1, 7));
  CapturedRun submitted = service.Qatctl({"submit", job_file});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  const std::string original_id = Trim(submitted.out);
  std::optional<v1::Job> original = WaitForEnd(service, original_id);
  ASSERT_TRUE(original.has_value());
  ASSERT_EQ(original->state(), v1::SUCCEEDED) << original->error() << service.Logs();

  CapturedRun rerun = service.Qatctl({"rerun", original_id, "--wait"}, 180s);
  ASSERT_EQ(rerun.exit_status, 0) << rerun.out << rerun.err << service.Logs();
  EXPECT_NE(rerun.err.find("models: 2 of 2 byte-identical"), std::string::npos) << rerun.err;
  const std::string rerun_id = Trim(rerun.out.substr(0, rerun.out.find('\n')));
  ASSERT_NE(rerun_id, original_id);
  std::optional<v1::Job> again = service.GetJob(rerun_id);
  ASSERT_TRUE(again.has_value()) << rerun.out;
  EXPECT_EQ(again->state(), v1::SUCCEEDED);
  EXPECT_EQ(again->experiment(), "rerun-identical");
  EXPECT_EQ(again->labels().at("rerun_of"), original_id);
  EXPECT_EQ(again->labels().at("suite"), "client-e2e");

  // The record: the seed, this build's engine, MNIST-10k's fixed sums and
  // the models' sums, the same in both.
  std::optional<v1::GetResultsResponse> first = service.GetResults(original_id);
  std::optional<v1::GetResultsResponse> second = service.GetResults(rerun_id);
  ASSERT_TRUE(first.has_value() && second.has_value());
  const v1::RunRecord& record = first->result().run();
  EXPECT_EQ(record.seed(), 7u);
  EXPECT_FALSE(record.engine_version().empty());
  ASSERT_EQ(record.inputs_size(), 4);
  EXPECT_EQ(record.inputs(0).sha256(), kMnist10kFiles[0].sha256);
  ASSERT_EQ(record.models_size(), 2);
  EXPECT_EQ(record.attempt(), 1);

  const std::map<std::string, std::string> original_models = DownloadModels(service, original_id);
  const std::map<std::string, std::string> rerun_models = DownloadModels(service, rerun_id);
  ASSERT_EQ(original_models.size(), 2u);
  ASSERT_EQ(rerun_models.size(), original_models.size());
  for (const auto& [name, bytes] : original_models) {
    ASSERT_TRUE(rerun_models.contains(name)) << name;
    EXPECT_FALSE(bytes.empty()) << name;
    EXPECT_TRUE(rerun_models.at(name) == bytes) << name << " differs between " << original_id << " and " << rerun_id;
    EXPECT_EQ(Sha256Hex(rerun_models.at(name)), Sha256Hex(bytes)) << name;
  }
  for (const v1::OutputFileRecord& model : record.models()) {
    EXPECT_EQ(model.sha256(), Sha256Hex(original_models.at(model.name()))) << model.name();
  }

  // `show` prints the record.
  CapturedRun shown = service.Qatctl({"show", rerun_id});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_NE(shown.out.find("run: engine " + record.engine_version() + "  seed 7"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(record.models(0).sha256()), std::string::npos) << shown.out;
}

// Points data set `name` at the content of data set `other` in the server's
// database, as restoring the database from another backup would.
void ReplaceDatasetContent(const std::string& db_path, const std::string& name, const std::string& other) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  const std::string sql = fmt::format(
      "UPDATE datasets SET (sha256, size) = (SELECT sha256, size FROM datasets WHERE name = '{}') WHERE name = '{}'",
      other, name);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

TEST(RerunEndToEnd, AChangedUploadedDataSetIsRefused) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string mnist = DefaultDataCacheDir() + "/mnist10k/";
  const std::map<std::string, std::string> uploads = {{"train-images", "train-images-idx3-ubyte"},
                                                      {"train-labels", "train-labels-idx1-ubyte"},
                                                      {"test-images", "t10k-images-idx3-ubyte"},
                                                      {"test-labels", "t10k-labels-idx1-ubyte"}};
  for (const auto& [name, file] : uploads) {
    CapturedRun uploaded = service.Qatctl({"datasets", "upload", name, mnist + file, "--format", "idx"}, 60s);
    ASSERT_EQ(uploaded.exit_status, 0) << uploaded.err;
  }
  const std::string job_file = service.WriteFile("job.json", R"({
  "experiment": "rerun-uploaded",
  "model": {"preset": "mlp"},
  "data": {"source": "idx", "trainImages": "dataset:train-images", "trainLabels": "dataset:train-labels",
           "testImages": "dataset:test-images", "testLabels": "dataset:test-labels",
           "trainLimit": 500, "testLimit": 200},
  "training": {"epochs": 1}, "qat": {"epochs": 1}, "configs": [{"weightBits": 8}]
})");
  CapturedRun submitted = service.Qatctl({"submit", job_file});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  const std::string job_id = Trim(submitted.out);
  std::optional<v1::Job> job = WaitForEnd(service, job_id);
  ASSERT_TRUE(job.has_value());
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << service.Logs();
  std::optional<v1::GetResultsResponse> results = service.GetResults(job_id);
  ASSERT_TRUE(results.has_value());
  const StatusOr<std::string> train_images_sha256 = Sha256OfFile(mnist + "train-images-idx3-ubyte");
  const StatusOr<std::string> test_images_sha256 = Sha256OfFile(mnist + "t10k-images-idx3-ubyte");
  ASSERT_TRUE(train_images_sha256.ok() && test_images_sha256.ok());
  ASSERT_EQ(results->result().run().inputs_size(), 4);
  EXPECT_EQ(results->result().run().inputs(0).source(), "dataset:train-images");
  EXPECT_EQ(results->result().run().inputs(0).sha256(), *train_images_sha256);

  service.KillServer();
  ReplaceDatasetContent(service.work_dir() + "/data/qatlab.db", "train-images", "test-images");
  ASSERT_TRUE(service.StartServer());
  const size_t jobs_before = service.ListAllJobs().size();

  CapturedRun refused = service.Qatctl({"rerun", job_id});
  EXPECT_EQ(refused.exit_status, 1) << refused.out << refused.err;
  EXPECT_EQ(refused.out, "");
  EXPECT_NE(refused.err.find("train_images: data set 'train-images' has changed: recorded sha256 " +
                             *train_images_sha256 + ", now " + *test_images_sha256),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--allow-changed-data"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("train_labels"), std::string::npos) << "only the changed file is named: " << refused.err;
  EXPECT_EQ(service.ListAllJobs().size(), jobs_before) << "nothing may be submitted";

  CapturedRun allowed = service.Qatctl({"rerun", job_id, "--allow-changed-data"});
  EXPECT_EQ(allowed.exit_status, 0) << allowed.err;
  EXPECT_NE(allowed.err.find("warning: train_images"), std::string::npos) << allowed.err;
  std::optional<v1::Job> rerun = service.GetJob(Trim(allowed.out));
  ASSERT_TRUE(rerun.has_value()) << allowed.out;
  EXPECT_EQ(rerun->labels().at("rerun_of"), job_id);
}

TEST(RerunEndToEnd, LogsOfSucceededAndFailedJobs) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string good_file = service.WriteFile("good.json", TinyJobJson("logs", 1, 1));
  const std::string missing = service.work_dir() + "/no-such-images.idx";
  const std::string bad_file = service.WriteFile("bad.json", fmt::format(R"({{
  "experiment": "logs",
  "model": {{"preset": "mlp"}},
  "data": {{"source": "idx", "trainImages": "{0}", "trainLabels": "{0}", "testImages": "{0}", "testLabels": "{0}"}},
  "training": {{"epochs": 1}},
  "maxAttempts": 1
}})",
                                                                         missing));
  CapturedRun good = service.Qatctl({"submit", good_file});
  ASSERT_EQ(good.exit_status, 0) << good.err;
  CapturedRun bad = service.Qatctl({"submit", bad_file});
  ASSERT_EQ(bad.exit_status, 0) << bad.err;
  const std::string good_id = Trim(good.out);
  const std::string bad_id = Trim(bad.out);
  std::optional<v1::Job> good_job = WaitForEnd(service, good_id);
  std::optional<v1::Job> bad_job = WaitForEnd(service, bad_id);
  ASSERT_TRUE(good_job.has_value() && bad_job.has_value());
  ASSERT_EQ(good_job->state(), v1::SUCCEEDED) << good_job->error();
  ASSERT_EQ(bad_job->state(), v1::FAILED);

  CapturedRun good_log = service.Qatctl({"logs", good_id});
  ASSERT_EQ(good_log.exit_status, 0) << good_log.err;
  EXPECT_NE(good_log.out.find("leased job " + good_id + " (attempt 1"), std::string::npos) << good_log.out;
  EXPECT_NE(good_log.out.find("job " + good_id + ": float epoch 1/1"), std::string::npos) << good_log.out;
  EXPECT_NE(good_log.out.find("job " + good_id + ": qat_w8a8 epoch 1/1"), std::string::npos) << good_log.out;
  EXPECT_NE(good_log.out.find("2 model(s) uploaded; completing"), std::string::npos) << good_log.out;
  EXPECT_EQ(good_log.out.find(bad_id), std::string::npos) << "another job's lines: " << good_log.out;
  CapturedRun first_attempt = service.Qatctl({"logs", good_id, "--attempt", "1"});
  EXPECT_EQ(first_attempt.out, good_log.out);

  CapturedRun bad_log = service.Qatctl({"logs", bad_id});
  ASSERT_EQ(bad_log.exit_status, 0) << bad_log.err;
  EXPECT_NE(bad_log.out.find("job " + bad_id + " failed"), std::string::npos) << bad_log.out;
  EXPECT_NE(bad_log.out.find(missing), std::string::npos) << bad_log.out;

  CapturedRun no_attempt = service.Qatctl({"logs", good_id, "--attempt", "2"});
  EXPECT_EQ(no_attempt.exit_status, 1);
  EXPECT_NE(no_attempt.err.find("has had 1 attempt(s)"), std::string::npos) << no_attempt.err;

  // The log is an artifact of the job, never one of its models.
  CapturedRun listed = service.Qatctl({"artifacts", "ls", good_id});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_NE(listed.out.find("qat_w8a8.qmodel"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(".log"), std::string::npos) << listed.out;
  CapturedRun shown = service.Qatctl({"show", good_id});
  EXPECT_EQ(shown.out.find(".log"), std::string::npos) << shown.out;
}

TEST(RerunEndToEnd, NoLogBeforeTheAttemptEnds) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  CapturedRun submitted = service.Qatctl({"submit", service.WriteFile("job.json", TinyJobJson("queued", 1, 0))});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  CapturedRun log = service.Qatctl({"logs", Trim(submitted.out)});
  EXPECT_EQ(log.exit_status, 1);
  EXPECT_EQ(log.out, "");
  EXPECT_NE(log.err.find("no log yet: the worker uploads it when the attempt ends"), std::string::npos) << log.err;
}

}  // namespace
}  // namespace qatlab::testing
