// `qatlab-worker run JOB.json`: one job in this process. Progress on stderr,
// the JobResult as JSON on stdout, the .qmodel files and the
// float model (float.ckpt, when trained here) in the output directory.
#pragma once

#include <string>

namespace qatlab {

struct RunCommandOptions {
  std::string job_path;
  std::string out_dir = "out";
  std::string data_cache_dir;  // empty: the default cache
  int threads = 2;
  // A float checkpoint (another run's float.ckpt) to start from instead of
  // training the float model; required when the spec names a baseline_job.
  std::string float_checkpoint_path;
};

// Returns the process exit code: 0 on success; on failure prints one line
// "error: ..." on stderr and returns 1 (2 when cancelled by SIGINT/SIGTERM).
int RunJobCommand(const RunCommandOptions& options);

}  // namespace qatlab
