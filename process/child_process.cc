#include "process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace qatlab {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

void CloseIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::vector<std::string> MergedEnvironment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> entries;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    const std::string name = text.substr(0, text.find('='));
    if (!overrides.count(name)) entries.push_back(std::move(text));
  }
  for (const auto& [name, value] : overrides) entries.push_back(name + "=" + value);
  return entries;
}

std::vector<char*> PointerArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// The descriptors one output stream needs: what the child dup2s onto its
// stream, and (for a pipe) the end the parent keeps.
struct StreamEnds {
  int child_end = -1;
  int parent_end = -1;
};

Status OpenStream(ChildOutput kind, const std::string& path, bool truncate, StreamEnds* ends) {
  switch (kind) {
    case ChildOutput::kInherit: return Status::Ok();
    case ChildOutput::kNull:
      ends->child_end = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (ends->child_end < 0) return Status::IOError("open /dev/null: " + ErrnoText(errno));
      return Status::Ok();
    case ChildOutput::kFile: {
      const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND);
      ends->child_end = ::open(path.c_str(), flags, 0644);
      if (ends->child_end < 0) return Status::IOError("open " + path + " for the child's output: " + ErrnoText(errno));
      return Status::Ok();
    }
    case ChildOutput::kPipe: {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IOError("pipe: " + ErrnoText(errno));
      ends->parent_end = fds[0];
      ends->child_end = fds[1];
      return Status::Ok();
    }
  }
  return Status::Internal("unknown ChildOutput");
}

}  // namespace

int DecodeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const ChildSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return Status::InvalidArgument("child process: empty command line");
  std::vector<std::string> arguments = spec.argv;
  std::vector<std::string> environment = MergedEnvironment(spec.environment);
  std::vector<char*> argument_pointers = PointerArray(arguments);
  std::vector<char*> environment_pointers = PointerArray(environment);
  const bool search_path = spec.argv[0].find('/') == std::string::npos;

  StreamEnds out, err;
  const bool shared_file = spec.stdout_to == ChildOutput::kFile && spec.stderr_to == ChildOutput::kFile &&
                           spec.stdout_path == spec.stderr_path;
  auto close_all = [&] {
    CloseIfOpen(out.child_end);
    CloseIfOpen(out.parent_end);
    if (!shared_file) CloseIfOpen(err.child_end);
    err.child_end = -1;
    CloseIfOpen(err.parent_end);
  };
  Status opened = OpenStream(spec.stdout_to, spec.stdout_path, spec.truncate_files, &out);
  if (opened.ok()) {
    if (shared_file) {
      err.child_end = out.child_end;
    } else {
      opened = OpenStream(spec.stderr_to, spec.stderr_path, spec.truncate_files, &err);
    }
  }
  int null_in = opened.ok() ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  if (opened.ok() && null_in < 0) opened = Status::IOError("open /dev/null: " + ErrnoText(errno));
  int exec_error_pipe[2] = {-1, -1};
  if (opened.ok() && ::pipe2(exec_error_pipe, O_CLOEXEC) != 0) opened = Status::IOError("pipe: " + ErrnoText(errno));
  if (!opened.ok()) {
    close_all();
    CloseIfOpen(null_in);
    return opened;
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    close_all();
    CloseIfOpen(null_in);
    CloseIfOpen(exec_error_pipe[0]);
    CloseIfOpen(exec_error_pipe[1]);
    return Status::ResourceExhausted("fork for " + spec.argv[0] + ": " + ErrnoText(error));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only, until exec.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spec.own_process_group) ::setpgid(0, 0);
    if (spec.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, spec.death_signal);
      if (::getppid() != parent) ::_exit(127);
    }
    ::dup2(spec.stdin_fd >= 0 ? spec.stdin_fd : null_in, STDIN_FILENO);
    if (out.child_end >= 0) ::dup2(out.child_end, STDOUT_FILENO);
    if (err.child_end >= 0) ::dup2(err.child_end, STDERR_FILENO);
    int failure[2] = {0, 0};  // {0: chdir, 1: exec; errno}
    if (!spec.working_directory.empty() && ::chdir(spec.working_directory.c_str()) != 0) {
      failure[1] = errno;
    } else {
      failure[0] = 1;
      if (search_path) {
        ::execvpe(argument_pointers[0], argument_pointers.data(), environment_pointers.data());
      } else {
        ::execve(argument_pointers[0], argument_pointers.data(), environment_pointers.data());
      }
      failure[1] = errno;
    }
    ssize_t ignored = ::write(exec_error_pipe[1], failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
  }

  if (spec.own_process_group) ::setpgid(pid, pid);  // also from the parent: no race with Signal()
  CloseIfOpen(null_in);
  CloseIfOpen(exec_error_pipe[1]);
  CloseIfOpen(out.child_end);
  if (!shared_file) CloseIfOpen(err.child_end);
  err.child_end = -1;

  // Blocks until exec succeeds (the pipe closes with no bytes) or the child
  // reports why it failed.
  int failure[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(exec_error_pipe[0], failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(exec_error_pipe[0]);
  std::unique_ptr<ChildProcess> child(new ChildProcess(pid, spec.own_process_group, out.parent_end, err.parent_end));
  if (got == static_cast<ssize_t>(sizeof failure)) {
    // The child has exited (status 127); returning destroys and reaps it.
    if (failure[0] == 0) {
      return Status::IOError("cannot enter " + spec.working_directory + " to run " + spec.argv[0] + ": " +
                             ErrnoText(failure[1]));
    }
    const std::string what = "cannot run " + spec.argv[0] + ": " + ErrnoText(failure[1]);
    if (failure[1] == ENOENT) return Status::NotFound(what);
    return Status::FailedPrecondition(what);
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (!exit_status_) {
    Signal(SIGKILL);
    ReapBlocking();
  }
  CloseIfOpen(stdout_fd_);
  CloseIfOpen(stderr_fd_);
}

void ChildProcess::Signal(int signal_number) {
  if (exit_status_) return;
  if (own_group_) {
    ::kill(-pid_, signal_number);
  } else {
    ::kill(pid_, signal_number);
  }
}

std::optional<int> ChildProcess::Poll() {
  if (exit_status_) return exit_status_;
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(pid_, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) {
    exit_status_ = DecodeWaitStatus(status);
    // A group's other members may outlive its leader: end them with it.
    if (own_group_) ::kill(-pid_, SIGKILL);
  } else if (done < 0) {
    exit_status_ = -1;  // not our child any more (reaped elsewhere)
  }
  return exit_status_;
}

std::optional<int> ChildProcess::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polls with a growing interval (up to 20 ms): waitpid has no timeout, and
  // a SIGCHLD handler would belong to the whole process.
  std::chrono::microseconds pause(200);
  for (;;) {
    if (auto status = Poll()) return status;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<std::chrono::microseconds>(
        pause, std::chrono::duration_cast<std::chrono::microseconds>(deadline - now)));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (auto status = Poll()) return *status;
  Signal(SIGTERM);
  if (auto status = WaitFor(grace)) return *status;
  Signal(SIGKILL);
  return ReapBlocking();
}

int ChildProcess::ReapBlocking() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = DecodeWaitStatus(status);
  return *exit_status_;
}

StatusOr<CapturedRun> RunToCompletion(ChildSpec spec, std::chrono::milliseconds timeout, size_t keep_bytes) {
  spec.stdout_to = ChildOutput::kPipe;
  spec.stderr_to = ChildOutput::kPipe;
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> child, ChildProcess::Start(spec));

  CapturedRun run;
  std::string* sinks[2] = {&run.out, &run.err};
  pollfd fds[2] = {{child->stdout_fd(), POLLIN, 0}, {child->stderr_fd(), POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[8192];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      child->Signal(SIGKILL);
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // EOF; the descriptor stays owned by the child object
        continue;
      }
      sinks[i]->append(buffer, static_cast<size_t>(n));
      if (sinks[i]->size() > 2 * keep_bytes) sinks[i]->erase(0, sinks[i]->size() - keep_bytes);
    }
  }
  for (std::string* sink : sinks) {
    if (sink->size() > keep_bytes) sink->erase(0, sink->size() - keep_bytes);
  }
  // Both streams closed (or the deadline passed): the process has ended or
  // is about to; a child that closed its streams and keeps running is
  // killed at the deadline.
  std::optional<int> status;
  if (!run.timed_out) {
    status = child->WaitFor(std::max<std::chrono::milliseconds>(
        std::chrono::milliseconds(0),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())));
  }
  if (!status) {
    run.timed_out = true;
    child->Signal(SIGKILL);
    status = child->WaitFor(std::chrono::milliseconds(5000));
  }
  run.exit_status = status.value_or(-1);
  return run;
}

}  // namespace qatlab
