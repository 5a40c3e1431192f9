// qatlab-server's Prometheus endpoint (server/metrics.h), scraped over HTTP
// from the real server binary while a real worker runs one job that succeeds
// and one that fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "tests/client/running_service.h"
#include "tests/support/loopback_port.h"

namespace qatlab::testing {
namespace {

// GET http://127.0.0.1:<port>/metrics; the body, or "" (and a test failure).
std::string HttpGetMetrics(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket failed";
    return "";
  }
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos || body == std::string::npos) {
    ADD_FAILURE() << "GET /metrics on port " << port << " answered: " << response.substr(0, 200);
    return "";
  }
  return response.substr(body + 4);
}

// "name{labels}" -> value, for every sample line of the exposition.
std::map<std::string, double> Scrape(int port) {
  std::map<std::string, double> samples;
  std::istringstream lines(HttpGetMetrics(port));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

double FailuresTotal(const std::map<std::string, double>& samples) {
  double total = 0;
  for (const auto& [name, value] : samples) {
    if (name.rfind("qatlab_job_failures_total{", 0) == 0) total += value;
  }
  return total;
}

TEST(ServerMetrics, QueueDepthDurationsWorkersAndFailuresFollowTheJobs) {
  const int metrics_port = test_support::FreeLoopbackPort();
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  service.AddServerArguments({"--metrics-listen", fmt::format("127.0.0.1:{}", metrics_port)});
  ASSERT_TRUE(service.StartServer());

  std::map<std::string, double> empty = Scrape(metrics_port);
  EXPECT_EQ(empty["qatlab_jobs{state=\"queued\"}"], 0);
  EXPECT_EQ(empty["qatlab_job_duration_seconds_count"], 0);
  EXPECT_EQ(empty["qatlab_local_workers"], 0);
  EXPECT_EQ(FailuresTotal(empty), 0);

  // Two jobs and no worker yet: the queue is two deep.
  CapturedRun good = service.Qatctl({"submit", service.WriteFile("good.json", TinyJobJson("metrics", 1, 1))});
  ASSERT_EQ(good.exit_status, 0) << good.err;
  const std::string missing = service.work_dir() + "/no-such-file";
  const std::string bad_json = fmt::format(
      R"({{"experiment": "metrics", "model": {{"preset": "mlp"}}, "maxAttempts": 1,
          "data": {{"source": "idx", "trainImages": "{0}", "trainLabels": "{0}",
                    "testImages": "{0}", "testLabels": "{0}"}}}})",
      missing);
  CapturedRun bad = service.Qatctl({"submit", service.WriteFile("bad.json", bad_json)});
  ASSERT_EQ(bad.exit_status, 0) << bad.err;
  std::map<std::string, double> queued = Scrape(metrics_port);
  EXPECT_EQ(queued["qatlab_jobs{state=\"queued\"}"], 2);
  EXPECT_EQ(queued["qatlab_workers_busy"], 0);

  ASSERT_NE(service.StartWorker("metrics-worker"), nullptr);
  for (const CapturedRun* submitted : {&good, &bad}) {
    std::string id = submitted->out;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    ASSERT_TRUE(service.WaitForJob(id, IsFinal, 180s, "finished"));
  }

  std::map<std::string, double> done = Scrape(metrics_port);
  EXPECT_EQ(done["qatlab_jobs{state=\"queued\"}"], 0);
  EXPECT_EQ(done["qatlab_jobs{state=\"running\"}"], 0);
  EXPECT_EQ(done["qatlab_jobs{state=\"succeeded\"}"], 1) << service.Logs();
  EXPECT_EQ(done["qatlab_jobs{state=\"failed\"}"], 1) << service.Logs();
  EXPECT_EQ(done["qatlab_job_duration_seconds_count"], 2);
  EXPECT_GT(done["qatlab_job_duration_seconds_sum"], 0);
  EXPECT_EQ(done["qatlab_job_duration_seconds_bucket{le=\"+Inf\"}"], 2);
  EXPECT_EQ(done["qatlab_lease_duration_seconds_count"], 2);
  EXPECT_LE(done["qatlab_lease_duration_seconds_sum"], done["qatlab_job_duration_seconds_sum"]);
  EXPECT_EQ(done["qatlab_workers_busy"], 0);
  EXPECT_EQ(FailuresTotal(done), 1);
}

}  // namespace
}  // namespace qatlab::testing
