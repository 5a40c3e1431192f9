// `qatctl report JOB... -o report.html`: fetches the jobs, their results and
// measurements from the server and writes one self-contained HTML report
// (report/html_report.h).
#pragma once

#include <string>
#include <vector>

#include "client/qatctl_commands.h"

namespace qatlab {

struct ReportFlags {
  std::vector<std::string> ids;  // job ids, in the order of the report
  std::string output;            // the HTML file to write
  bool force = false;            // overwrite an existing file
  std::string title;             // empty: "qatlab report: <ids>"
};

// Writes the report atomically (a temporary file beside it, then a rename),
// so a failure never leaves a partial report. Refuses to replace an existing
// file without `force`. Fails, writing nothing, when a job is unknown or has
// no results yet. Prints "wrote ..." to stderr on success, one error line on
// failure; returns the exit status (0 or 1).
int RunReportCommand(const QatctlOptions& options, const ReportFlags& flags);

}  // namespace qatlab
