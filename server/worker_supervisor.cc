#include "server/worker_supervisor.h"

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "status/printable_value.h"

namespace qatlab::server {

namespace {
constexpr std::chrono::milliseconds kPollInterval{100};

// `exit_status` as ChildProcess reports it: the code, or 128 + the signal.
std::string DescribeExit(int exit_status) {
  if (exit_status > 128) return fmt::format("killed by signal {}", exit_status - 128);
  return fmt::format("exited with status {}", exit_status);
}
}  // namespace

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
  std::vector<std::filesystem::path> candidates;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // Installed: both programs in <prefix>/bin. Build tree: each program in
    // its own folder.
    candidates.push_back(self.parent_path() / "qatlab-worker");
    candidates.push_back(self.parent_path().parent_path() / "worker" / "qatlab-worker");
  }
  for (const std::filesystem::path& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  const char* path_variable = std::getenv("PATH");
  const std::string search_path = path_variable != nullptr ? path_variable : "";
  for (size_t begin = 0; begin <= search_path.size();) {
    size_t end = search_path.find(':', begin);
    if (end == std::string::npos) end = search_path.size();
    const std::string directory = search_path.substr(begin, end - begin);
    begin = end + 1;
    if (directory.empty()) continue;  // an empty entry would mean the working directory: not trusted
    const std::filesystem::path candidate = std::filesystem::path(directory) / "qatlab-worker";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  std::vector<std::string> looked_in;
  for (const std::filesystem::path& candidate : candidates) looked_in.push_back(candidate.string());
  looked_in.push_back(fmt::format("PATH ({})", search_path.empty() ? "unset" : search_path));
  return Status::NotFound(
      fmt::format("qatlab-worker not found (looked for {}); pass --worker-binary PATH or --local-workers 0",
                  fmt::join(looked_in, ", ")));
}

Status WorkerSupervisor::Start() {
  if (options_.count <= 0) return Status::Ok();
  {
    std::lock_guard lock(mutex_);
    slots_.clear();
    for (int i = 0; i < options_.count; ++i) slots_.emplace_back(options_.backoff);
    stopping_ = false;
  }
  monitor_ = std::thread([this] { Monitor(); });
  return Status::Ok();
}

void WorkerSupervisor::Spawn(int index, Slot& slot) {
  ChildSpec spec;
  spec.argv = CommandLine(options_, index);
  spec.stdout_to = ChildOutput::kInherit;
  spec.stderr_to = ChildOutput::kInherit;
  // Tied to the monitor thread, which lives as long as the supervisor: if
  // the server dies, its workers get SIGTERM and give their jobs back.
  spec.death_signal = SIGTERM;
  slot.started = std::chrono::steady_clock::now();
  StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(spec);
  if (!started.ok()) {
    const auto delay = slot.backoff.Next();
    slot.restart_at = slot.started + delay;
    spdlog::error("worker local-{}: {}; trying again in {} ms", index, started.status().ToString(), delay.count());
    return;
  }
  slot.process = std::move(started).value();
  ++starts_;
  spdlog::info("worker local-{}: started (pid {}): {}", index, slot.process->pid(),
               PrintableValue(fmt::format("{}", fmt::join(spec.argv, " ")), 4 * kPrintableValueLimit));
}

void WorkerSupervisor::Monitor() {
  std::unique_lock lock(mutex_);
  for (size_t i = 0; i < slots_.size(); ++i) Spawn(static_cast<int>(i) + 1, slots_[i]);
  while (!stopping_) {
    wake_.wait_for(lock, kPollInterval);
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      const int index = static_cast<int>(i) + 1;
      if (slot.process) {
        std::optional<int> exit_status = slot.process->Poll();
        if (!exit_status) continue;
        auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.started);
        if (lived >= options_.backoff_reset_after) slot.backoff.Reset();
        const std::chrono::milliseconds delay = slot.backoff.Next();
        slot.restart_at = now + delay;
        spdlog::warn("worker local-{} (pid {}) {} after {} ms; restarting in {} ms", index, slot.process->pid(),
                     DescribeExit(*exit_status), lived.count(), delay.count());
        slot.process.reset();
        if (options_.on_death) options_.on_death(fmt::format("local-{}", index), DescribeExit(*exit_status));
      } else if (now >= slot.restart_at) {
        Spawn(index, slot);
      }
    }
  }
  lock.unlock();
  TerminateAll();
}

void WorkerSupervisor::TerminateAll() {
  // The processes stay in their slots (pids() still names them) until each
  // has ended; only this thread changes the slots now that stopping_ is set.
  std::vector<ChildProcess*> alive;
  {
    std::lock_guard lock(mutex_);
    for (Slot& slot : slots_) {
      if (slot.process) alive.push_back(slot.process.get());
    }
  }
  // All at once, so the grace period is shared rather than one per worker.
  for (ChildProcess* process : alive) process->Signal(SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + options_.stop_grace;
  for (ChildProcess* process : alive) {
    const auto left =
        std::max(std::chrono::milliseconds(0),
                 std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now()));
    if (!process->WaitFor(left)) {
      spdlog::warn("worker pid {} ignored SIGTERM for {} ms; killing it", process->pid(), options_.stop_grace.count());
      process->Stop(std::chrono::milliseconds(0));
    }
  }
  std::lock_guard lock(mutex_);
  for (Slot& slot : slots_) slot.process.reset();
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
  for (const Slot& slot : slots_) pids.push_back(slot.process ? slot.process->pid() : 0);
  return pids;
}

}  // namespace qatlab::server
