#include "tests/support/test_processes.h"

#include <signal.h>

#include "tests/support/temp_dir.h"

namespace qatlab::test_support {

StatusOr<std::unique_ptr<LoggedChild>> LoggedChild::Start(const std::vector<std::string>& argv, std::string log_path,
                                                          const std::map<std::string, std::string>& environment) {
  ChildSpec spec;
  spec.argv = argv;
  spec.environment = environment;
  spec.stdout_to = ChildOutput::kFile;
  spec.stdout_path = log_path;
  spec.stderr_to = ChildOutput::kFile;
  spec.stderr_path = log_path;
  spec.death_signal = SIGKILL;
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> process, ChildProcess::Start(spec));
  return std::unique_ptr<LoggedChild>(new LoggedChild(std::move(process), std::move(log_path)));
}

std::string LoggedChild::Log() const { return ReadWholeFile(log_path_); }

CapturedRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       const std::map<std::string, std::string>& environment) {
  ChildSpec spec;
  spec.argv = argv;
  spec.environment = environment;
  StatusOr<CapturedRun> run = RunToCompletion(std::move(spec), timeout);
  if (run.ok()) return std::move(*run);
  CapturedRun failed;
  failed.err = run.status().ToString();
  return failed;
}

}  // namespace qatlab::test_support
