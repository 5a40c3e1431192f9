#include "model_import/onnx_inspector.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "process/child_process.h"

namespace qatlab {

namespace {

constexpr const char* kInspectorName = "qatlab-onnx-inspect";
constexpr const char* kCheckFailed = "the ONNX model could not be checked: ";

// The install prefix of a program installed in <prefix>/<bindir>/.
std::filesystem::path InstallPrefix(const std::filesystem::path& program) {
  std::filesystem::path prefix = program.parent_path();
  for (const auto& component : std::filesystem::path(QATLAB_INSTALL_BINDIR)) {
    if (!component.empty()) prefix = prefix.parent_path();
  }
  return prefix;
}

// The last non-empty line of `text`, cut to a readable length.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const size_t newline = text.rfind('\n');
  if (newline != std::string_view::npos) text.remove_prefix(newline + 1);
  if (text.size() > 300) text = text.substr(0, 300);
  return std::string(text);
}

// Closes a descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The model in an anonymous in-memory file, read back from its start: the
// inspector's stdin, with no file on disk to clean up or to be read by others.
StatusOr<int> ModelInMemoryFile(std::string_view bytes) {
  const int fd = ::memfd_create("qatlab-onnx-model", MFD_CLOEXEC);
  if (fd < 0) return Status::ResourceExhausted(fmt::format("memfd_create: {}", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      return Status::ResourceExhausted(fmt::format("writing the model to a memfd: {}", std::strerror(error)));
    }
    written += static_cast<size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    const int error = errno;
    ::close(fd);
    return Status::IOError(fmt::format("lseek on the model's memfd: {}", std::strerror(error)));
  }
  return fd;
}

}  // namespace

StatusOr<std::string> FindOnnxInspector() {
  if (const char* explicit_path = std::getenv("QATLAB_ONNX_INSPECTOR"); explicit_path != nullptr) {
    if (::access(explicit_path, X_OK) != 0) {
      return Status::NotFound(fmt::format("QATLAB_ONNX_INSPECTOR={}: not an executable file", explicit_path));
    }
    return std::string(explicit_path);
  }
  std::vector<std::filesystem::path> candidates;
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path libexec(QATLAB_INSTALL_LIBEXECDIR);
    candidates.push_back((libexec.is_absolute() ? libexec : InstallPrefix(self) / libexec) / "qatlab" / kInspectorName);
    candidates.push_back(self.parent_path() / kInspectorName);
    candidates.push_back(self.parent_path().parent_path() / "model_import" / kInspectorName);
  }
  candidates.push_back(QATLAB_BUILD_TREE_ONNX_INSPECTOR);
  std::vector<std::string> looked_in;
  for (const std::filesystem::path& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    looked_in.push_back(candidate.string());
  }
  return Status::NotFound(fmt::format("{} not found (looked for {}); set QATLAB_ONNX_INSPECTOR to its path",
                                      kInspectorName, fmt::join(looked_in, ", ")));
}

StatusOr<OnnxModelSummary> InspectOnnxModelInChild(std::string_view bytes, const OnnxInspectorLimits& limits) {
  QATLAB_ASSIGN_OR_RETURN(const std::string inspector, FindOnnxInspector());
  QATLAB_ASSIGN_OR_RETURN(const int model_fd, ModelInMemoryFile(bytes));
  ScopedFd model(model_fd);
  const int64_t memory_mib = limits.base_memory_mib + static_cast<int64_t>(bytes.size()) * 8 / (1024 * 1024);
  const int64_t cpu_seconds = std::max<int64_t>(1, limits.timeout.count() / 1000);
  ChildSpec spec;
  spec.argv = {inspector, "--max-memory-mib", std::to_string(memory_mib), "--max-cpu-seconds",
               std::to_string(cpu_seconds)};
  spec.stdin_fd = model.get();
  // Killed with its parent: an inspector must not outlive a server that died.
  spec.death_signal = SIGKILL;
  QATLAB_ASSIGN_OR_RETURN(const CapturedRun run, RunToCompletion(spec, limits.timeout, 64 * 1024));
  if (run.timed_out) {
    return Status::InvalidArgument(
        fmt::format("{}the inspector took longer than {} ms", kCheckFailed, limits.timeout.count()));
  }
  switch (run.exit_status) {
    case kInspectorModelOk: {
      StatusOr<OnnxModelSummary> summary = ParseOnnxModelSummary(run.out);
      if (!summary.ok()) {
        return Status::Internal(fmt::format("{} answered what this server cannot read ({}): {}", kInspectorName,
                                            summary.status().message(), LastLine(run.out)));
      }
      return summary;
    }
    case kInspectorModelInvalid: return Status::InvalidArgument(LastLine(run.out));
    case kInspectorOutOfMemory:
      return Status::InvalidArgument(
          fmt::format("{}checking it needs more than {} MiB of memory", kCheckFailed, memory_mib));
    default: break;
  }
  if (run.exit_status > 128) {
    const int signal_number = run.exit_status - 128;
    if (signal_number == SIGXCPU) {
      return Status::InvalidArgument(
          fmt::format("{}the inspector used more than {} s of CPU", kCheckFailed, cpu_seconds));
    }
    return Status::InvalidArgument(fmt::format("{}the inspector crashed (signal {})", kCheckFailed, signal_number));
  }
  const std::string said = LastLine(run.err);
  return Status::InvalidArgument(fmt::format("{}the inspector failed (exit status {}){}{}", kCheckFailed,
                                             run.exit_status, said.empty() ? "" : ": ", said));
}

StatusOr<ImportedModel> ImportOnnxModelFileCheckedInChild(const std::string& path, const OnnxInspectorLimits& limits) {
  QATLAB_ASSIGN_OR_RETURN(const std::string bytes, ReadOnnxModelFile(path));
  const std::string context = "ONNX model '" + path + "'";
  if (Status checked = InspectOnnxModelInChild(bytes, limits).status(); !checked.ok()) {
    return checked.WithContext(context);
  }
  StatusOr<ImportedModel> model = ImportOnnxModel(bytes);
  if (!model.ok()) return model.status().WithContext(context);
  return model;
}

}  // namespace qatlab
