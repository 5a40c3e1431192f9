#include "server/worker_supervisor.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace qatlab::server {

namespace {
constexpr std::chrono::milliseconds kPollInterval{100};

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return fmt::format("killed by signal {}", WTERMSIG(wait_status));
  return "stopped";
}
}  // namespace

std::chrono::milliseconds RestartBackoff::Next(std::chrono::milliseconds previous,
                                               std::chrono::milliseconds lived) const {
  if (previous.count() == 0 || lived >= reset_after) return initial;
  return std::min(previous * 2, max);
}

WorkerSupervisor::WorkerSupervisor(WorkerSupervisorOptions options) : options_(std::move(options)) {}

WorkerSupervisor::~WorkerSupervisor() { Stop(); }

std::vector<std::string> WorkerSupervisor::CommandLine(const WorkerSupervisorOptions& options, int index) {
  std::vector<std::string> argv = {options.binary, "--server", options.server_address, "--worker-id",
                                   fmt::format("local-{}", index)};
  if (!options.token_file.empty()) {
    argv.push_back("--token-file");
    argv.push_back(options.token_file);
  }
  if (!options.data_cache.empty()) {
    argv.push_back("--data-cache");
    argv.push_back(options.data_cache);
  }
  return argv;
}

StatusOr<std::string> WorkerSupervisor::FindWorkerBinary(const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    if (::access(explicit_path.c_str(), X_OK) != 0) {
      return Status::NotFound(fmt::format("--worker-binary {}: not an executable file", explicit_path));
    }
    return explicit_path;
  }
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path beside = self.parent_path() / "qatlab-worker";
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
    // In the build tree the worker lives in its own folder.
    std::filesystem::path build_tree = self.parent_path().parent_path() / "worker" / "qatlab-worker";
    if (::access(build_tree.c_str(), X_OK) == 0) return build_tree.string();
  }
  return Status::NotFound(
      "qatlab-worker not found next to qatlab-server; pass --worker-binary PATH or --local-workers 0");
}

Status WorkerSupervisor::Start() {
  if (options_.count <= 0) return Status::Ok();
  {
    std::lock_guard lock(mutex_);
    slots_.assign(options_.count, Slot{});
    stopping_ = false;
  }
  monitor_ = std::thread([this] { Monitor(); });
  return Status::Ok();
}

pid_t WorkerSupervisor::Spawn(int index) {
  std::vector<std::string> args = CommandLine(options_, index);
  // Everything the child touches is prepared before fork: after fork in a
  // threaded process only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM in its threads
    // Tied to the forking thread (the monitor), which lives as long as the
    // supervisor: if the server dies, its workers get SIGTERM.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) {
    spdlog::error("worker local-{}: fork failed: {}", index, std::strerror(errno));
    return 0;
  }
  spdlog::info("worker local-{}: started (pid {}): {}", index, pid, fmt::join(args, " "));
  return pid;
}

void WorkerSupervisor::Monitor() {
  std::unique_lock lock(mutex_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].pid = Spawn(static_cast<int>(i) + 1);
    slots_[i].started = std::chrono::steady_clock::now();
    if (slots_[i].pid > 0) ++starts_;
  }
  while (!stopping_) {
    wake_.wait_for(lock, kPollInterval);
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      const int index = static_cast<int>(i) + 1;
      if (slot.pid > 0) {
        int wait_status = 0;
        if (::waitpid(slot.pid, &wait_status, WNOHANG) != slot.pid) continue;
        auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.started);
        slot.last_delay = options_.backoff.Next(slot.last_delay, lived);
        slot.restart_at = now + slot.last_delay;
        spdlog::warn("worker local-{} (pid {}) {} after {} ms; restarting in {} ms", index, slot.pid,
                     DescribeExit(wait_status), lived.count(), slot.last_delay.count());
        slot.pid = 0;
      } else if (now >= slot.restart_at) {
        slot.pid = Spawn(index);
        slot.started = now;
        if (slot.pid > 0) {
          ++starts_;
        } else {
          slot.last_delay = options_.backoff.Next(slot.last_delay, std::chrono::milliseconds(0));
          slot.restart_at = now + slot.last_delay;
        }
      }
    }
  }
  lock.unlock();
  TerminateAll();
}

void WorkerSupervisor::TerminateAll() {
  std::vector<pid_t> alive;
  {
    std::lock_guard lock(mutex_);
    for (Slot& slot : slots_) {
      if (slot.pid > 0) alive.push_back(slot.pid);
    }
  }
  for (pid_t pid : alive) ::kill(pid, SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + options_.stop_grace;
  while (!alive.empty() && std::chrono::steady_clock::now() < give_up) {
    alive.erase(std::remove_if(alive.begin(), alive.end(),
                               [](pid_t pid) {
                                 int wait_status = 0;
                                 return ::waitpid(pid, &wait_status, WNOHANG) == pid;
                               }),
                alive.end());
    if (!alive.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t pid : alive) {
    spdlog::warn("worker pid {} ignored SIGTERM for {} ms; killing it", pid, options_.stop_grace.count());
    ::kill(pid, SIGKILL);
    int wait_status = 0;
    ::waitpid(pid, &wait_status, 0);
  }
  std::lock_guard lock(mutex_);
  for (Slot& slot : slots_) slot.pid = 0;
}

void WorkerSupervisor::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

int WorkerSupervisor::starts() const {
  std::lock_guard lock(mutex_);
  return starts_;
}

std::vector<pid_t> WorkerSupervisor::pids() const {
  std::lock_guard lock(mutex_);
  std::vector<pid_t> pids;
  for (const Slot& slot : slots_) pids.push_back(slot.pid);
  return pids;
}

}  // namespace qatlab::server
