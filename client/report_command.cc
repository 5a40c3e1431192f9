#include "client/report_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include "client/output_files.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "report/html_report.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

int Fail(const std::string& reason) {
  std::fflush(stdout);
  fmt::print(stderr, "qatctl: error: {}\n", reason);
  return 1;
}

std::string NowUtc() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M UTC", &utc);
  return text;
}

// The jobs a list of ids names, each once, in order; nullopt and the error
// line, spelled like every qatctl error ("NOT_FOUND: job j-... not found"),
// in *error when one cannot be had. A sweep id will expand here into its
// jobs.
std::optional<std::vector<ReportedJob>> FetchJobs(v1::ExperimentService::Stub& stub, const QatctlOptions& options,
                                                  const std::vector<std::string>& ids, std::string* error) {
  std::vector<ReportedJob> jobs;
  std::vector<std::string> seen;
  for (const auto& id : ids) {
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
    seen.push_back(id);
    grpc::ClientContext context;
    PrepareCall(&context, options.token, options.timeout_ms);
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse response;
    grpc::Status status = stub.GetResults(&context, request, &response);
    if (!status.ok()) {
      *error = DescribeRpcError(status, options.address);
      return std::nullopt;
    }
    if (response.result().variants_size() == 0) {
      *error = fmt::format("FAILED_PRECONDITION: job {} has no results yet (it is {})", id,
                           v1::JobState_Name(response.job().state()));
      return std::nullopt;
    }
    ReportedJob job;
    job.job = response.job();
    job.result = response.result();
    job.measurements.assign(response.measurements().begin(), response.measurements().end());
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace

int RunReportCommand(const QatctlOptions& options, const ReportFlags& flags) {
  // Checked before any call, so a forgotten --force fails at once.
  if (Status free = CheckOutputFree(flags.output, flags.force); !free.ok()) return Fail(DescribeStatus(free));
  auto stub = v1::ExperimentService::NewStub(OpenServerChannel(options.address));
  std::string fetch_error;
  std::optional<std::vector<ReportedJob>> jobs = FetchJobs(*stub, options, flags.ids, &fetch_error);
  if (!jobs.has_value()) return Fail(fetch_error);

  ReportOptions report;
  std::string ids;
  for (const auto& job : *jobs) {
    if (!ids.empty()) ids += ", ";
    ids += job.job.id();
  }
  report.title = flags.title.empty() ? "qatlab report: " + ids : flags.title;
  report.generated_at = NowUtc();
  const std::string html = RenderHtmlReport(*jobs, report);
  Status written = WriteFileAtomically(flags.output, html, flags.force);
  if (!written.ok()) return Fail(DescribeStatus(written));
  size_t variants = 0;
  for (const auto& job : *jobs) variants += static_cast<size_t>(job.result.variants_size());
  fmt::print(stderr, "wrote {} ({} job{}, {} variants, {} bytes)\n", flags.output, jobs->size(),
             jobs->size() == 1 ? "" : "s", variants, html.size());
  return 0;
}

}  // namespace qatlab
