// End-to-end stories of models in and out, with the real qatlab-server,
// qatlab-worker and qatctl as processes on loopback: uploading an ONNX model
// and running a job from it; exporting a finished job's integer model, with
// nothing written on any error and nothing overwritten without --force.
//
// Tests named OnnxModel* need the real ONNX importer (model_import/): they
// upload a model it must accept. Tests named Exporters* need the real QDQ ONNX
// and C exporters (model_export/onnx_qdq_export.h, c_export.h).
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "digest/sha256.h"
#include "tests/client/running_service.h"
#include "tests/server/tiny_onnx_model.h"

namespace qatlab::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::RunCommand;

int LineCount(const std::string& text) {
  std::istringstream stream(text);
  std::string line;
  int lines = 0;
  while (std::getline(stream, line)) lines += line.empty() ? 0 : 1;
  return lines;
}

// The names in `directory`, sorted: what a command left behind.
std::vector<std::string> Listing(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Expects a failed qatctl run: non-zero, one line on stderr starting with
// "qatctl: error: <code>: " and holding `detail`.
void ExpectOneLineError(const CapturedRun& run, const std::string& code, const std::string& detail) {
  EXPECT_NE(run.exit_status, 0) << run.out;
  EXPECT_EQ(run.err.rfind("qatctl: error: " + code + ": ", 0), 0u) << run.err;
  EXPECT_NE(run.err.find(detail), std::string::npos) << run.err;
  EXPECT_EQ(LineCount(run.err), 1) << run.err;
}

// Submits the tiny MLP job and waits for it to succeed; its id.
std::string FinishedJob(RunningService& service) {
  std::string job_file = service.WriteFile("job.json", TinyJobJson("e2e-export", 1, 1));
  CapturedRun submitted = service.Qatctl({"submit", job_file});
  EXPECT_EQ(submitted.exit_status, 0) << submitted.err;
  std::string job_id = Trim(submitted.out);
  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, std::chrono::seconds(120), "finished");
  EXPECT_TRUE(job && job->state() == v1::SUCCEEDED) << (job ? job->ShortDebugString() : "") << service.Logs();
  return job_id;
}

std::string ArtifactSha256(RunningService& service, const std::string& job_id, const std::string& variant) {
  std::optional<v1::GetResultsResponse> results = service.GetResults(job_id);
  if (!results) return "";
  for (const v1::VariantResult& v : results->result().variants()) {
    if (v.name() == variant) return v.artifact_sha256();
  }
  return "";
}

TEST(ModelsEndToEnd, ExportWritesTheArtifactOnceAndNothingOnError) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string job_id = FinishedJob(service);
  ASSERT_FALSE(job_id.empty());
  const std::string expected_sha256 = ArtifactSha256(service, job_id, "qat_w8a8");
  ASSERT_FALSE(expected_sha256.empty());

  const std::string out_dir = service.work_dir() + "/exports";
  fs::create_directory(out_dir);
  auto in_out_dir = [&](const std::vector<std::string>& arguments) {
    // qatctl run with the export directory as its working directory, so the
    // default output names land there.
    std::string command = "cd '" + out_dir + "' && exec '" + QatctlBinary() + "' --server " + service.address();
    for (const std::string& argument : arguments) command += " '" + argument + "'";
    return RunCommand({"/bin/sh", "-c", command}, std::chrono::seconds(30), {{"QATLAB_TOKEN", ""}});
  };

  // The default name, the artifact's exact bytes.
  CapturedRun exported = in_out_dir({"export", job_id, "--variant", "qat_w8a8", "--format", "qmodel"});
  ASSERT_EQ(exported.exit_status, 0) << exported.err << service.Logs();
  const std::string path = out_dir + "/" + job_id + "-qat_w8a8.qmodel";
  StatusOr<std::string> sha256 = Sha256OfFile(path);
  ASSERT_TRUE(sha256.ok()) << sha256.status().ToString() << " " << exported.err;
  EXPECT_EQ(*sha256, expected_sha256);
  const std::vector<std::string> after_export = Listing(out_dir);
  EXPECT_EQ(after_export, std::vector<std::string>{job_id + "-qat_w8a8.qmodel"});

  // Again: refused, the file untouched; with --force it is written again.
  fs::resize_file(path, 3);
  CapturedRun again = in_out_dir({"export", job_id, "--variant", "qat_w8a8"});
  ExpectOneLineError(again, "ALREADY_EXISTS", "--force");
  EXPECT_EQ(fs::file_size(path), 3u);
  CapturedRun forced = in_out_dir({"export", job_id, "--variant", "qat_w8a8", "--force"});
  ASSERT_EQ(forced.exit_status, 0) << forced.err;
  EXPECT_EQ(*Sha256OfFile(path), expected_sha256);

  // Each error: one line, its code, and nothing written, not even a
  // temporary.
  ExpectOneLineError(in_out_dir({"export", job_id, "--variant", "float"}), "FAILED_PRECONDITION", "no integer model");
  ExpectOneLineError(in_out_dir({"export", job_id, "--variant", "qat_w2a8"}), "NOT_FOUND",
                     "its variants: float, ptq_w8a8, qat_w8a8");
  ExpectOneLineError(in_out_dir({"export", job_id, "--variant", "qat_w8a8", "--format", "tflite"}), "INVALID_ARGUMENT",
                     "known: qmodel, onnx, c");
  ExpectOneLineError(in_out_dir({"export", "j-nosuchjob", "--variant", "qat_w8a8"}), "NOT_FOUND", "j-nosuchjob");
  EXPECT_EQ(Listing(out_dir), after_export);

  // An explicit -o and stdout.
  const std::string named = out_dir + "/chosen.qmodel";
  CapturedRun to_named = service.Qatctl({"export", job_id, "--variant", "ptq_w8a8", "-o", named});
  ASSERT_EQ(to_named.exit_status, 0) << to_named.err;
  EXPECT_EQ(*Sha256OfFile(named), ArtifactSha256(service, job_id, "ptq_w8a8"));
  CapturedRun to_stdout = service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "-o", "-"});
  ASSERT_EQ(to_stdout.exit_status, 0) << to_stdout.err;
  EXPECT_EQ(Sha256Hex(to_stdout.out), expected_sha256);

  // artifacts get shares the rule: no silent overwrite.
  CapturedRun got = service.Qatctl({"artifacts", "get", job_id, "qat_w8a8.qmodel", "-o", named});
  ExpectOneLineError(got, "ALREADY_EXISTS", named);
  EXPECT_EQ(*Sha256OfFile(named), ArtifactSha256(service, job_id, "ptq_w8a8"));
  CapturedRun got_forced = service.Qatctl({"artifacts", "get", job_id, "qat_w8a8.qmodel", "-o", named, "--force"});
  ASSERT_EQ(got_forced.exit_status, 0) << got_forced.err;
  EXPECT_EQ(*Sha256OfFile(named), expected_sha256);
  EXPECT_EQ(Listing(out_dir), (std::vector<std::string>{"chosen.qmodel", job_id + "-qat_w8a8.qmodel"}));
}

// The formats other tools consume: onnx is one file, c a directory; both
// land whole or not at all, and are replaced only with --force.
TEST(ModelsEndToEnd, ExportersOnnxAndCWriteAFileAndADirectory) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string job_id = FinishedJob(service);
  ASSERT_FALSE(job_id.empty());

  const std::string onnx = service.work_dir() + "/model.onnx";
  CapturedRun to_onnx = service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "--format", "onnx", "-o", onnx});
  ASSERT_EQ(to_onnx.exit_status, 0) << to_onnx.err << service.Logs();
  EXPECT_GT(fs::file_size(onnx), 0u);

  const std::string c_dir = service.work_dir() + "/model-c";
  CapturedRun to_c = service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "--format", "c", "-o", c_dir});
  ASSERT_EQ(to_c.exit_status, 0) << to_c.err << service.Logs();
  ASSERT_TRUE(fs::is_directory(c_dir));
  int headers = 0, sources = 0;
  for (const auto& entry : fs::directory_iterator(c_dir)) {
    headers += entry.path().extension() == ".h" ? 1 : 0;
    sources += entry.path().extension() == ".c" ? 1 : 0;
  }
  EXPECT_GE(headers, 1);
  EXPECT_GE(sources, 1);
  const std::vector<std::string> first = Listing(c_dir);

  ExpectOneLineError(service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "--format", "c", "-o", c_dir}),
                     "ALREADY_EXISTS", "--force");
  ExpectOneLineError(service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "--format", "c", "-o", "-"}),
                     "INVALID_ARGUMENT", "directory");
  EXPECT_EQ(Listing(c_dir), first);
  fs::remove(c_dir + "/" + first.front());
  CapturedRun forced =
      service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "--format", "c", "-o", c_dir, "--force"});
  ASSERT_EQ(forced.exit_status, 0) << forced.err;
  EXPECT_EQ(Listing(c_dir), first);
  for (const std::string& name : Listing(service.work_dir())) {
    EXPECT_EQ(name.find(".partial-"), std::string::npos) << "a temporary was left behind: " << name;
  }
}

TEST(ModelsEndToEnd, ANonOnnxUploadAndAJobNamingAMissingModelAreRefused) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string junk = service.WriteFile("weights.onnx", "PK\x03\x04 a zip file, not an ONNX model");
  ExpectOneLineError(service.Qatctl({"models", "upload", junk}), "INVALID_ARGUMENT",
                     "model 'weights' cannot be imported");
  CapturedRun listed = service.Qatctl({"models", "ls", "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_TRUE(json::parse(listed.out).value("models", json::array()).empty()) << listed.out;

  const std::string job_file =
      service.WriteFile("onnx_job.json", R"({"model": {"onnx": "model:never-uploaded"}, "data": {"source": "mnist"}})");
  ExpectOneLineError(service.Qatctl({"submit", job_file}), "INVALID_ARGUMENT",
                     "model 'never-uploaded' has not been uploaded");
  CapturedRun jobs = service.Qatctl({"ls", "--json"});
  ASSERT_EQ(jobs.exit_status, 0) << jobs.err;
  EXPECT_TRUE(json::parse(jobs.out).value("jobs", json::array()).empty()) << jobs.out;
}

// Upload, list, re-upload (same sha256), then a job from "model:NAME" that a
// worker fetches into its cache and runs to the end, and its QAT model
// exported.
TEST(ModelsEndToEnd, OnnxModelJobRunsFromAnUploadedModel) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string bytes = TinyOnnxLinearModel();
  const std::string file = service.WriteFile("tiny_linear.onnx", bytes);

  CapturedRun uploaded = service.Qatctl({"models", "upload", file, "--name", "tiny", "--json"});
  ASSERT_EQ(uploaded.exit_status, 0) << uploaded.err << service.Logs();
  EXPECT_EQ(json::parse(uploaded.out)["sha256"], Sha256Hex(bytes)) << uploaded.out;
  CapturedRun again = service.Qatctl({"models", "upload", file, "--name", "tiny", "--json"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["sha256"], Sha256Hex(bytes)) << again.out;
  CapturedRun listed = service.Qatctl({"models", "ls", "--json"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  json models = json::parse(listed.out)["models"];
  ASSERT_EQ(models.size(), 1u) << listed.out;
  EXPECT_EQ(models[0]["name"], "tiny");
  EXPECT_EQ(models[0]["numClasses"], 10);
  CapturedRun table = service.Qatctl({"models", "ls"});
  EXPECT_NE(table.out.find("28x28x1"), std::string::npos) << table.out;

  const std::string cache = service.work_dir() + "/worker-cache";
  service.StartWorker("w-model", {"--data-cache", cache});
  const std::string job_file = service.WriteFile("onnx_job.json", R"({
    "experiment": "e2e-onnx", "model": {"onnx": "model:tiny"},
    "data": {"source": "mnist", "trainLimit": 1000, "testLimit": 500},
    "training": {"epochs": 1}, "qat": {"epochs": 1}})");
  CapturedRun submitted = service.Qatctl({"submit", job_file});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  const std::string job_id = Trim(submitted.out);
  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, std::chrono::seconds(120), "finished");
  ASSERT_TRUE(job);
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->ShortDebugString() << service.Logs();
  EXPECT_EQ(job->spec().model().onnx(), "model:tiny");
  EXPECT_TRUE(fs::exists(cache + "/models/" + Sha256Hex(bytes)));

  const std::string exported = service.work_dir() + "/tiny-qat.qmodel";
  CapturedRun exported_run = service.Qatctl({"export", job_id, "--variant", "qat_w8a8", "-o", exported});
  ASSERT_EQ(exported_run.exit_status, 0) << exported_run.err;
  EXPECT_EQ(*Sha256OfFile(exported), ArtifactSha256(service, job_id, "qat_w8a8"));
}

}  // namespace
}  // namespace qatlab::testing
