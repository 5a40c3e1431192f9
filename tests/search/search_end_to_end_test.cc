// `qatctl search` end to end, with real processes only: qatlab-server with
// two local workers, qatlab-agent with the firmware in QEMU (the emulated
// mps2-an386 board), and qatctl submitting the search (SubmitSearch) on a
// small cnn and a short schedule, the server running it and qatctl
// following it (GetSearch) and writing its outputs. Every verified candidate
// must have been measured bit-exact on the board, with its flash predicted
// exactly and its latency within 5% of the board's measurement; ranked by
// default by the HAWQ score, its most accurate candidate is the mixed
// configuration of the front with the lowest score. The finished search is
// then read back by examples/search_api.py, a flash budget below its w2
// model is refused at submission with that model's size, a job file that
// asks for no Hessian traces is refused for a HAWQ search, and a search
// with a 1 s time limit ends FAILED with its sensitivity job cancelled.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <nlohmann/json.hpp>

#include "qatlab_firmware_paths.h"
#include "tests/client/running_service.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {
namespace {

using test_support::LoggedChild;
using test_support::WaitUntil;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

constexpr const char* kJob = R"({
  "experiment": "search e2e",
  "model": {"preset": "cnn"},
  "data": {"source": "mnist", "trainLimit": 600, "testLimit": 200},
  "training": {"epochs": 1, "batchSize": 32, "learningRate": 0.002},
  "qat": {"epochs": 1, "learningRate": 0.0002},
  "ptq": {"calibrationSamples": 128, "hessianProbes": 4},
  "seed": 3
}
)";

// qatlab-agent on the emulated mps2-an386 board, attached to `service`, with
// the short measurement settings both tests below use; returns once the
// server lists the board: a search measures as soon as its sensitivity job
// ends, which can be before a just-started agent has registered.
StatusOr<std::unique_ptr<LoggedChild>> StartAgent(RunningService& service) {
  StatusOr<std::unique_ptr<LoggedChild>> agent = LoggedChild::Start(
      {QATLAB_AGENT_BINARY, "--server", service.address(), "--name", "search-board", "--firmware",
       QATLAB_FIRMWARE_MPS2_AN386, "--lease-wait-ms", "1000", "--check-inputs", "10", "--accuracy-samples", "20",
       "--warmup", "1", "--windows", "3", "--inferences-per-window", "3"},
      service.work_dir() + "/agent.log", {{"QATLAB_TOKEN", ""}});
  if (!agent.ok()) return agent;
  if (!WaitUntil([&] { return service.Qatctl({"devices"}).out.find("mps2-an386") != std::string::npos; },
                 std::chrono::seconds(60), "the agent registering its mps2-an386 board")) {
    return Status::Internal("the agent did not register its board within 60 s\n" + service.Logs() +
                            "\n--- agent ---\n" + (*agent)->Log());
  }
  return agent;
}

// Two local workers and short leases: the candidates train in parallel.
ServiceOptions TwoWorkers() {
  ServiceOptions options;
  options.local_workers = 2;
  options.lease_seconds = 5;
  return options;
}

// examples/search_api.py re-attached to the finished search `id`: exit 0,
// the result document written byte for byte, and one line per verified
// configuration whose fields are the result's.
void ExpectTheScriptPrintsTheVerifiedConfigurations(const RunningService& service, const std::string& id,
                                                    const nlohmann::json& result) {
  const std::string written = service.work_dir() + "/script.json";
  const CapturedRun run =
      test_support::RunCommand({"/usr/bin/python3", QATLAB_SEARCH_API_SCRIPT, "--server", service.address(), "--id", id,
                                "--wait", "60", "--json-out", written},
                               std::chrono::seconds(120), {{"PYTHONPATH", PythonStubsDir()}, {"QATLAB_TOKEN", ""}});
  ASSERT_EQ(run.exit_status, 0) << run.out << run.err;
  EXPECT_EQ(nlohmann::json::parse(ReadFile(written)), result);
  EXPECT_NE(run.out.find("; ranked by " + result["rankBy"].get<std::string>() + "\n"), std::string::npos) << run.out;
  std::map<std::string, std::vector<std::string>> printed;  // config -> its line's fields
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> words{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    if (!words.empty()) printed[words[0]] = words;
  }
  for (const nlohmann::json& v : result["verified"]) {
    SCOPED_TRACE(v.dump());
    const std::string config = v["config"].get<std::string>();
    ASSERT_TRUE(printed.count(config)) << run.out;
    const std::vector<std::string>& words = printed[config];
    ASSERT_GE(words.size(), 8u) << run.out;
    std::string bits;
    for (const nlohmann::json& b : v["predicted"]["bits"]) {
      if (!bits.empty()) bits += ',';
      bits += b.dump();
    }
    const nlohmann::json& measured = v["measured"];
    EXPECT_EQ(words[1], bits);
    EXPECT_EQ(words[2], std::to_string(measured["flashBytes"].get<int64_t>()));
    EXPECT_EQ(words[3], fmt::format("{:.3f}", v["predicted"]["latencyMs"].get<double>()));
    EXPECT_EQ(words[4], fmt::format("{:.3f}", measured["latencyMs"].get<double>()));
    EXPECT_EQ(words[5], fmt::format("{:+.2f}%", v["latencyErrorPercent"].get<double>()));
    EXPECT_EQ(words[6], fmt::format("{:.2f}%", measured["integerAccuracy"].get<double>()));
    EXPECT_EQ(words[7], fmt::format("{}/{}", measured["bitExactInputs"].get<int64_t>(),
                                    measured["checkedInputs"].get<int64_t>()));
  }
}

TEST(SearchEndToEndTest, PredictsEveryCandidatesFlashExactlyAndItsLatencyWithinFivePercent) {
  ASSERT_TRUE(std::filesystem::is_regular_file(QATLAB_FIRMWARE_MPS2_AN386))
      << "the firmware was not built (arm-none-eabi-gcc missing?)";
  RunningService service(TwoWorkers());
  ASSERT_TRUE(service.StartServer());
  StatusOr<std::unique_ptr<LoggedChild>> agent = StartAgent(service);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto logs = [&] { return service.Logs() + "\n--- agent ---\n" + (*agent)->Log(); };

  const std::string output = service.work_dir() + "/search";
  const CapturedRun run = service.Qatctl({"search", service.WriteFile("job.json", kJob), "--board", "mps2-an386",
                                          "--candidates", "3", "-o", output, "--wait", "400"},
                                         std::chrono::seconds(900));

  ASSERT_EQ(run.exit_status, 0) << run.out << run.err << logs();
  const nlohmann::json result = nlohmann::json::parse(ReadFile(output + ".json"));
  EXPECT_EQ(result["weightedLayers"], 3);
  EXPECT_TRUE(result["emulated"].get<bool>());
  ASSERT_GE(result["predictedFront"].size(), 3u);
  // Ranked by the HAWQ score, the default: the first candidate is the mixed
  // configuration of the predicted front with the lowest score.
  EXPECT_EQ(result["rankBy"], "hawq");
  EXPECT_EQ(result["rankField"], "hawqScore");
  std::optional<double> lowest_mixed_score;
  for (const nlohmann::json& config : result["predictedFront"]) {
    const std::vector<int> bits = config["bits"].get<std::vector<int>>();
    if (std::all_of(bits.begin(), bits.end(), [&](int b) { return b == bits[0]; })) continue;
    const double score = config["hawqScore"].get<double>();
    if (!lowest_mixed_score || score < *lowest_mixed_score) lowest_mixed_score = score;
  }
  ASSERT_TRUE(lowest_mixed_score.has_value());
  ASSERT_EQ(result["verified"][0]["config"], "cand0");
  EXPECT_EQ(result["verified"][0]["predicted"]["hawqScore"].get<double>(), *lowest_mixed_score);
  int candidates = 0, uniform = 0;
  for (const nlohmann::json& v : result["verified"]) {
    SCOPED_TRACE(v.dump());
    ASSERT_FALSE(v.contains("measurementError"));
    const nlohmann::json& measured = v["measured"];
    EXPECT_EQ(measured["bitExactInputs"], measured["checkedInputs"]);
    EXPECT_GT(measured["checkedInputs"].get<int>(), 0);
    EXPECT_EQ(v["predicted"]["flashBytes"], measured["flashBytes"]);
    EXPECT_EQ(v["predicted"]["ramBytes"], measured["ramBytes"]);
    EXPECT_LE(std::abs(v["latencyErrorPercent"].get<double>()), 5.0);
    EXPECT_GT(v["jobSeconds"].get<double>(), 0);
    EXPECT_TRUE(v["predicted"].contains("hawqScore"));
    (v["uniform"].get<bool>() ? uniform : candidates) += 1;
  }
  // The second-order measure beside the PTQ drops: from the sensitivity
  // job's layer_hessian, which the worker stored as an artifact and
  // GetResults merged back.
  ASSERT_EQ(result["layers"].size(), 3u);
  for (const nlohmann::json& layer : result["layers"]) {
    SCOPED_TRACE(layer.dump());
    ASSERT_TRUE(layer.contains("hessian"));
    EXPECT_GT(layer["hessian"]["parameters"].get<int64_t>(), 0);
    EXPECT_TRUE(layer["hessian"]["omega"].contains("2"));
  }
  std::optional<v1::GetResultsResponse> sensitivity = service.GetResults(result["sensitivityJob"].get<std::string>());
  ASSERT_TRUE(sensitivity.has_value());
  ASSERT_EQ(sensitivity->result().layer_hessian_size(), 3);
  EXPECT_EQ(sensitivity->result().layer_hessian(2).trace(), result["layers"][2]["hessian"]["trace"].get<double>());
  EXPECT_GT(result["sensitivityJobSeconds"].get<double>(), 0);
  EXPECT_EQ(candidates, 3);
  EXPECT_EQ(uniform, 3);
  EXPECT_LE(std::abs(result["separability"]["errorPercent"].get<double>()), 5.0);
  // The table on stdout, and the report with the search's own section.
  EXPECT_NE(run.out.find("cand0"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("w2a8: "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("ranked by the HAWQ score"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("HAWQ score (ranked)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("PTQ-pred acc"), std::string::npos) << run.out;
  const std::string html = ReadFile(output + ".html");
  EXPECT_NE(html.find("<h2>Mixed-precision search</h2>"), std::string::npos);
  EXPECT_NE(html.find("HAWQ score, sum of Omega (lower predicts more accurate; not a percentage)"), std::string::npos);
  EXPECT_NE(html.find("data-kind=\"predicted\""), std::string::npos);
  EXPECT_NE(html.find("data-kind=\"measured\""), std::string::npos);

  // The server ran it: a search resource with the jobs the result names,
  // which qatctl re-attaches to and shows.
  const std::string id = result["search"].get<std::string>();
  ASSERT_EQ(id.rfind("se-", 0), 0u) << id;
  EXPECT_NE(run.err.find("search: " + id + " submitted"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("search: verify: 6 QAT jobs"), std::string::npos) << run.err;
  const CapturedRun shown = service.Qatctl({"show", id});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_NE(shown.out.find("SUCCEEDED"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("ranked by the HAWQ score"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(result["sensitivityJob"].get<std::string>()), std::string::npos) << shown.out;
  const CapturedRun attached =
      service.Qatctl({"search", "--id", id, "-o", service.work_dir() + "/attached"}, std::chrono::seconds(120));
  ASSERT_EQ(attached.exit_status, 0) << attached.err;
  EXPECT_EQ(ReadFile(service.work_dir() + "/attached.json"), ReadFile(output + ".json"));
  ExpectTheScriptPrintsTheVerifiedConfigurations(service, id, result);

  // A flash budget below the all-2-bit model: refused at submission, before
  // anything trains, naming the smallest reachable flash: the exact size of
  // the w2 model the board ran.
  int64_t w2_flash = 0;
  for (const nlohmann::json& v : result["verified"]) {
    if (v["config"] == "w2a8") w2_flash = v["measured"]["flashBytes"].get<int64_t>();
  }
  ASSERT_GT(w2_flash, 0);
  const size_t jobs_before = service.ListAllJobs().size();
  const CapturedRun tight = service.Qatctl({"search", service.WriteFile("job3.json", kJob), "--max-flash",
                                            std::to_string(w2_flash - 1), "-o", service.work_dir() + "/tight"},
                                           std::chrono::seconds(60));
  EXPECT_EQ(tight.exit_status, 1);
  EXPECT_NE(tight.err.find(
                fmt::format("qatctl: error: INVALID_ARGUMENT: SubmitSearch: budgets.max_flash_bytes: {} is below the "
                            "smallest flash this model can reach ({} bytes, every weighted layer at 2 "
                            "bits)",
                            w2_flash - 1, w2_flash)),
            std::string::npos)
      << tight.err;
  EXPECT_FALSE(std::filesystem::exists(service.work_dir() + "/tight.json"));
  EXPECT_EQ(service.ListAllJobs().size(), jobs_before);

  // Run again with the same output: refused before anything is submitted.
  const CapturedRun again = service.Qatctl({"search", service.WriteFile("job2.json", kJob), "-o", output});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("already exists; pass --force"), std::string::npos) << again.err;

  // A job file that asks for no Hessian traces cannot be ranked by them:
  // refused before anything is submitted, naming the fix.
  std::string no_traces = kJob;
  no_traces.replace(no_traces.find("\"hessianProbes\": 4"), 18, "\"hessianProbes\": 0");
  const CapturedRun untraced =
      service.Qatctl({"search", service.WriteFile("job4.json", no_traces), "-o", service.work_dir() + "/untraced"});
  EXPECT_EQ(untraced.exit_status, 1);
  EXPECT_NE(untraced.err.find("ptq.hessianProbes is 0"), std::string::npos) << untraced.err;
  EXPECT_NE(untraced.err.find("--rank-by ptq"), std::string::npos) << untraced.err;
  EXPECT_EQ(service.ListAllJobs().size(), jobs_before);

  // A time limit shorter than the sensitivity job: the search ends FAILED
  // naming it, and its job is cancelled (the worker stops training).
  const CapturedRun limited = service.Qatctl(
      {"search", service.WriteFile("job5.json", kJob), "--time-limit", "1s", "-o", service.work_dir() + "/limited"},
      std::chrono::seconds(120));
  EXPECT_EQ(limited.exit_status, 1) << limited.err;
  EXPECT_NE(limited.err.find("qatctl: error: search timed out after 1 s in step sensitivity"), std::string::npos)
      << limited.err << logs();
  const size_t submitted_at = limited.err.find("search: se-");
  ASSERT_NE(submitted_at, std::string::npos) << limited.err;
  const std::string limited_id =
      limited.err.substr(submitted_at + 8, limited.err.find(' ', submitted_at + 8) - (submitted_at + 8));
  std::vector<v1::Job> jobs = service.ListAllJobs();
  ASSERT_EQ(jobs.size(), jobs_before + 1);
  std::string limited_job;
  for (const v1::Job& job : jobs) {
    auto search = job.spec().labels().find("search");
    if (search != job.spec().labels().end() && search->second == limited_id) limited_job = job.id();
  }
  ASSERT_FALSE(limited_job.empty()) << limited_id;
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::optional<v1::GetResultsResponse> job = service.GetResults(limited_job);
        return job.has_value() && job->job().state() == v1::CANCELLED;
      },
      std::chrono::seconds(60), "the timed-out search's sensitivity job ending CANCELLED"))
      << logs();
}

// The server SIGKILLed while the search verifies its candidates: restarted,
// it resumes the search, which finishes with the same jobs and measures
// nothing twice.
TEST(SearchEndToEndTest, AServerKilledDuringVerificationResumesTheSearchWithTheSameJobs) {
  ASSERT_TRUE(std::filesystem::is_regular_file(QATLAB_FIRMWARE_MPS2_AN386))
      << "the firmware was not built (arm-none-eabi-gcc missing?)";
  RunningService service(TwoWorkers());
  ASSERT_TRUE(service.StartServer());
  StatusOr<std::unique_ptr<LoggedChild>> agent = StartAgent(service);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto logs = [&] { return service.Logs() + "\n--- agent ---\n" + (*agent)->Log(); };

  v1::SubmitSearchRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(kJob, request.mutable_spec()).ok());
  request.set_board_kind("mps2-an386");
  request.set_candidates(2);
  auto stub =
      v1::ExperimentService::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  auto get = [&](const std::string& id) {
    v1::GetSearchRequest get_request;
    get_request.set_id(id);
    v1::Search search;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->GetSearch(&context, get_request, &search).ok() ? search : v1::Search();
  };
  v1::Search submitted;
  {
    grpc::ClientContext context;
    grpc::Status status = stub->SubmitSearch(&context, request, &submitted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // Verifying: the sensitivity job and 2 candidates + 3 uniform jobs exist.
  v1::Search before;
  ASSERT_TRUE(WaitUntil(
      [&] {
        before = get(submitted.id());
        return before.step() == "verify" && before.job_ids_size() == 6;
      },
      std::chrono::seconds(400), "the search submitting its candidate jobs"))
      << before.DebugString() << logs();

  service.KillServer();
  ASSERT_TRUE(service.StartServer()) << logs();
  v1::Search after;
  ASSERT_TRUE(WaitUntil(
      [&] {
        after = get(submitted.id());
        return after.state() != v1::QUEUED && after.state() != v1::RUNNING && after.state() != 0;
      },
      std::chrono::seconds(500), "the resumed search finishing"))
      << after.DebugString() << logs();
  ASSERT_EQ(after.state(), v1::SUCCEEDED) << after.error() << logs();
  EXPECT_EQ(std::vector<std::string>(after.job_ids().begin(), after.job_ids().end()),
            std::vector<std::string>(before.job_ids().begin(), before.job_ids().end()));
  EXPECT_EQ(service.ListAllJobs().size(), 6u);
  // Each probe and each candidate measured once.
  std::optional<v1::GetResultsResponse> probes = service.GetResults(after.sensitivity_job_id());
  ASSERT_TRUE(probes.has_value());
  EXPECT_EQ(probes->measurements_size(), 4);
  for (int i = 1; i < after.job_ids_size(); ++i) {
    std::optional<v1::GetResultsResponse> candidate = service.GetResults(after.job_ids(i));
    ASSERT_TRUE(candidate.has_value());
    EXPECT_EQ(candidate->measurements_size(), 1) << after.job_ids(i);
  }
  const nlohmann::json result = nlohmann::json::parse(after.result_json());
  for (const nlohmann::json& v : result["verified"]) {
    SCOPED_TRACE(v.dump());
    ASSERT_FALSE(v.contains("measurementError"));
    EXPECT_EQ(v["measured"]["bitExactInputs"], v["measured"]["checkedInputs"]);
    EXPECT_EQ(v["predicted"]["flashBytes"], v["measured"]["flashBytes"]);
    EXPECT_LE(std::abs(v["latencyErrorPercent"].get<double>()), 5.0);
  }
}

}  // namespace
}  // namespace qatlab::testing
