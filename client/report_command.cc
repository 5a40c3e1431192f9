// QatctlCommands::Report: `qatctl report JOB... -o report.html`.
#include "client/qatctl_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "client/output_files.h"
#include "client/sweep_ids.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "report/html_report.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

std::string NowUtc() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M UTC", &utc);
  return text;
}

}  // namespace

int QatctlCommands::Report(const ReportFlags& flags) {
  // Checked before any call, so a forgotten --force fails at once.
  if (Status free = CheckOutputFree(flags.output, flags.force); !free.ok()) return Fail(DescribeStatus(free));
  // The jobs the ids name, each once, in order; a sweep id stands for its
  // jobs (baselines first, then the grid's).
  StatusOr<std::vector<std::string>> job_ids = ExpandSweepIds(*stub_, options_.token, options_.timeout_ms, flags.ids);
  if (!job_ids.ok()) return Fail(DescribeStatus(job_ids.status()));
  std::vector<ReportedJob> jobs;
  std::vector<std::string> seen;
  for (const auto& id : *job_ids) {
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
    seen.push_back(id);
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse response;
    if (grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &response); !status.ok()) {
      return FailRpc(status);
    }
    if (response.result().variants_size() == 0) {
      return Fail(fmt::format("FAILED_PRECONDITION: job {} has no results yet (it is {})", id,
                              v1::JobState_Name(response.job().state())));
    }
    ReportedJob job;
    job.job = response.job();
    job.result = response.result();
    job.measurements.assign(response.measurements().begin(), response.measurements().end());
    jobs.push_back(std::move(job));
  }

  // A job that started from another's float model carries that model's
  // figures as its own float variant: when the baseline is in the report too,
  // its float model is shown once, as the baseline's.
  for (ReportedJob& job : jobs) {
    auto* variants = job.result.mutable_variants();
    for (int v = variants->size() - 1; v >= 0; --v) {
      const std::string& baseline = variants->Get(v).baseline_job();
      if (!baseline.empty() && std::find(seen.begin(), seen.end(), baseline) != seen.end()) {
        variants->DeleteSubrange(v, 1);
      }
    }
  }

  ReportOptions report;
  std::string ids;
  for (const auto& id : flags.ids) {
    if (!ids.empty()) ids += ", ";
    ids += id;
  }
  report.title = flags.title.empty() ? "qatlab report: " + ids : flags.title;
  report.generated_at = NowUtc();
  const std::string html = RenderHtmlReport(jobs, report);
  Status written = WriteFileAtomically(flags.output, html, flags.force);
  if (!written.ok()) return Fail(DescribeStatus(written));
  size_t variants = 0;
  for (const auto& job : jobs) variants += static_cast<size_t>(job.result.variants_size());
  fmt::print(stderr, "wrote {} ({} job{}, {} variants, {} bytes)\n", flags.output, jobs.size(),
             jobs.size() == 1 ? "" : "s", variants, html.size());
  return 0;
}

}  // namespace qatlab
