// The report of a set of jobs as one self-contained HTML file (qatctl
// report): the comparison table of every variant, accuracy against flash size
// and against measured latency with the Pareto front, per-epoch training
// curves, and per-layer cycles where a board measured them. Inline CSS and
// SVG only: no script, no external resource, so it opens with no network.
#pragma once

#include <string>
#include <vector>

#include "qatlab/v1/resources.pb.h"

namespace qatlab {

// One job as the report reads it. A sweep is reported by expanding it into
// its jobs, in the order they should appear.
struct ReportedJob {
  v1::Job job;
  v1::JobResult result;  // empty while the job has none
  std::vector<v1::Measurement> measurements;
};

struct ReportOptions {
  std::string title = "qatlab report";
  std::string generated_at;  // shown under the title when not empty
};

// The whole HTML document. Every string taken from the jobs is escaped.
// Each plotted point is a <circle class="point"> in an <svg> whose
// data-plot is "flash" or "latency", carrying data-job and data-variant.
std::string RenderHtmlReport(const std::vector<ReportedJob>& jobs, const ReportOptions& options = {});

}  // namespace qatlab
