// `qatctl report` end to end, with real processes only: qatlab-server with
// two local workers runs two small jobs, qatlab-agent measures their models
// on the firmware in QEMU, qatctl writes the report, and headless Chromium
// opens it: the points the browser's DOM holds are the points the results
// call for, and its screenshot is kept under the build tree.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab_firmware_paths.h"
#include "tests/client/running_service.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {
namespace {

using test_support::LoggedChild;
using test_support::RunCommand;
using test_support::WaitUntil;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t CountMatches(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

// The first job id ("j-" and 12 base32 characters) in `text`, or "".
std::string FirstJobId(const std::string& text) {
  std::smatch match;
  return std::regex_search(text, match, std::regex("j-[a-z2-7]{12}")) ? match.str() : "";
}

// Chromium, headless, with nothing that would reach the network and a
// profile of its own.
std::vector<std::string> Chromium(const std::string& profile_dir) {
  return {"chromium",
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--user-data-dir=" + profile_dir};
}

std::string JobJson(const std::string& experiment, int seed, bool measure) {
  return fmt::format(R"({{
  "experiment": "{}",
  "model": {{"preset": "mlp"}},
  "data": {{"source": "mnist", "trainLimit": 1000, "testLimit": 300}},
  "training": {{"epochs": 1}},
  "qat": {{"epochs": 1}},
  "configs": [{{"weightBits": 8, "activationBits": 8}}, {{"weightBits": 4, "activationBits": 8}},
              {{"weightBits": 2, "activationBits": 8}}],
  "seed": {}{}
}}
)",
                     experiment, seed, measure ? R"(, "measureOn": ["mps2-an386"])" : "");
}

TEST(ReportEndToEndTest, ReportOfTwoJobsRendersEveryPointInChromium) {
  ASSERT_EQ(RunCommand({"chromium", "--version"}, std::chrono::seconds(30)).exit_status, 0)
      << "chromium is not installed (scripts/install_deps.sh)";
  ServiceOptions options;
  options.local_workers = 2;
  options.lease_seconds = 5;
  RunningService service(options);
  ASSERT_TRUE(service.StartServer());

  // The emulated board, when the build has firmware.
  const bool with_board = std::filesystem::is_regular_file(QATLAB_FIRMWARE_MPS2_AN386);
  std::unique_ptr<LoggedChild> agent;
  if (with_board) {
    StatusOr<std::unique_ptr<LoggedChild>> started = LoggedChild::Start(
        {QATLAB_AGENT_BINARY, "--server", service.address(), "--name", "report-board", "--firmware",
         QATLAB_FIRMWARE_MPS2_AN386, "--lease-wait-ms", "1000", "--check-inputs", "10", "--accuracy-samples", "20",
         "--warmup", "1", "--windows", "3", "--inferences-per-window", "3"},
        service.work_dir() + "/agent.log", {{"QATLAB_TOKEN", ""}});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    agent = std::move(*started);
  }
  auto logs = [&] { return service.Logs() + "\n--- agent ---\n" + (agent ? agent->Log() : std::string()); };

  std::vector<std::string> job_ids;
  for (int seed : {1, 2}) {
    const CapturedRun submitted = service.Qatctl(
        {"submit", service.WriteFile(fmt::format("job{}.json", seed),
                                     JobJson(fmt::format("report-e2e seed {}", seed), seed, with_board))});
    ASSERT_EQ(submitted.exit_status, 0) << submitted.err << logs();
    job_ids.push_back(FirstJobId(submitted.out));
    ASSERT_FALSE(job_ids.back().empty()) << submitted.out;
  }
  size_t expected_points = 0;
  for (const auto& id : job_ids) {
    std::optional<v1::Job> job = service.WaitForJob(
        id, [](const v1::Job& j) { return IsFinal(j); }, std::chrono::seconds(180), "the job to finish");
    ASSERT_TRUE(job.has_value());
    ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << logs();
    std::optional<v1::GetResultsResponse> results;
    if (with_board) {
      // Every exported model is measured: 3 PTQ and 3 QAT.
      EXPECT_TRUE(WaitUntil(
          [&] {
            results = service.GetResults(id);
            if (!results.has_value() || results->measurements_size() < 6) return false;
            for (const auto& m : results->measurements()) {
              if (m.state() != "SUCCEEDED" && m.state() != "FAILED") return false;
            }
            return true;
          },
          std::chrono::seconds(240), "the measurements of " + id + " to finish"))
          << logs();
    } else {
      results = service.GetResults(id);
    }
    ASSERT_TRUE(results.has_value());
    // One point per variant with a flash size, one per successful measurement.
    for (const auto& variant : results->result().variants()) expected_points += variant.flash_bytes() > 0 ? 1 : 0;
    for (const auto& m : results->measurements()) {
      EXPECT_EQ(m.state(), "SUCCEEDED") << m.variant() << ": " << m.error();
      expected_points += m.state() == "SUCCEEDED" ? 1 : 0;
    }
  }
  // float, ptq and qat at three widths, in both jobs; and the 12 measurements.
  EXPECT_EQ(expected_points, with_board ? 26u : 14u);

  const std::string report = service.work_dir() + "/report.html";
  const CapturedRun written = service.Qatctl({"report", job_ids[0], job_ids[1], "-o", report});
  ASSERT_EQ(written.exit_status, 0) << written.err;
  EXPECT_NE(written.err.find("wrote " + report), std::string::npos) << written.err;
  const std::string html = ReadFile(report);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);

  // An existing file is kept unless --force; an unknown job and a job with
  // no results each give one clear error and write nothing.
  const CapturedRun again = service.Qatctl({"report", job_ids[0], "-o", report});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("qatctl: error: ALREADY_EXISTS: " + report + " already exists; pass --force to replace it"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(ReadFile(report), html);
  const std::string other = service.work_dir() + "/other.html";
  const CapturedRun unknown = service.Qatctl({"report", job_ids[0], "j-aaaaaaaaaaaa", "-o", other});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_EQ(unknown.err, "qatctl: error: NOT_FOUND: job j-aaaaaaaaaaaa not found\n");
  EXPECT_FALSE(std::filesystem::exists(other));
  // A long job, cancelled at once, never has results.
  const CapturedRun long_job = service.Qatctl({"submit", "--preset", "mlp", "--epochs", "50", "--bits", "8"});
  ASSERT_EQ(long_job.exit_status, 0) << long_job.err;
  const std::string cancelled_id = FirstJobId(long_job.out);
  ASSERT_EQ(service.Qatctl({"cancel", cancelled_id}).exit_status, 0);
  ASSERT_TRUE(service.WaitForJob(
      cancelled_id, [](const v1::Job& j) { return IsFinal(j); }, std::chrono::seconds(60), "the cancel"));
  const CapturedRun empty = service.Qatctl({"report", cancelled_id, "-o", other});
  EXPECT_EQ(empty.exit_status, 1);
  EXPECT_NE(empty.err.find("FAILED_PRECONDITION: job " + cancelled_id + " has no results yet (it is CANCELLED)"),
            std::string::npos)
      << empty.err;
  EXPECT_FALSE(std::filesystem::exists(other));
  const CapturedRun forced = service.Qatctl({"report", job_ids[1], job_ids[0], "-o", report, "--force"});
  EXPECT_EQ(forced.exit_status, 0) << forced.err;
  ASSERT_EQ(service.Qatctl({"report", job_ids[0], job_ids[1], "-o", report, "--force"}).exit_status, 0);

  // The browser's view: the DOM after parsing and layout.
  test_support::TempDir profile;
  std::vector<std::string> dump = Chromium(profile.path() + "/dump");
  dump.insert(dump.end(), {"--dump-dom", "file://" + report});
  const CapturedRun dom = RunCommand(dump, std::chrono::seconds(90));
  ASSERT_EQ(dom.exit_status, 0) << dom.err;
  EXPECT_EQ(CountMatches(dom.out, "<circle class=\"point"), expected_points) << dom.out.substr(0, 2000);
  EXPECT_EQ(CountMatches(dom.out, "data-plot=\"flash\""), 1u);
  EXPECT_EQ(CountMatches(dom.out, "data-plot=\"latency\""), with_board ? 1u : 0u);
  EXPECT_EQ(CountMatches(dom.out, "data-plot=\"layers\""), with_board ? 12u : 0u);
  for (const auto& id : job_ids) EXPECT_NE(dom.out.find(id), std::string::npos) << id;

  // The screenshot, kept for a person to look at.
  std::filesystem::create_directories(QATLAB_TEST_ARTIFACTS_DIR);
  const std::string png = std::string(QATLAB_TEST_ARTIFACTS_DIR) + "/report.png";
  std::filesystem::remove(png);
  std::vector<std::string> shot = Chromium(profile.path() + "/shot");
  shot.insert(shot.end(), {"--screenshot=" + png, "--window-size=1280,2000", "--hide-scrollbars", "file://" + report});
  const CapturedRun screenshot = RunCommand(shot, std::chrono::seconds(90));
  ASSERT_EQ(screenshot.exit_status, 0) << screenshot.err;
  const std::string image = ReadFile(png);
  ASSERT_GT(image.size(), 8u);
  EXPECT_EQ(image.substr(1, 3), "PNG");
  std::filesystem::copy_file(report, std::string(QATLAB_TEST_ARTIFACTS_DIR) + "/report.html",
                             std::filesystem::copy_options::overwrite_existing);
  std::cout << "report screenshot: " << png << "\n";
}

}  // namespace
}  // namespace qatlab::testing
