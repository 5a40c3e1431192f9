#include "process/stop_signal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace qatlab {
namespace {

// The write end of the installed StopSignal's pipe; -1 when none is.
std::atomic<int> g_write_fd{-1};

// Byte 0 on the pipe is Finish(); any other byte is a signal number.
constexpr unsigned char kFinished = 0;

void ForwardSignal(int signal_number) {
  const int saved_errno = errno;
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signal_number);
    [[maybe_unused]] ssize_t written = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

void SetHandler(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
}

}  // namespace

StatusOr<std::unique_ptr<StopSignal>> StopSignal::Install() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IOError(std::string("stop signal pipe: ") + std::strerror(errno));
  int expected = -1;
  if (!g_write_fd.compare_exchange_strong(expected, fds[1])) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::FailedPrecondition("a StopSignal is already installed in this process");
  }
  SetHandler(ForwardSignal);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  return std::unique_ptr<StopSignal>(new StopSignal(fds[0], fds[1]));
}

StopSignal::~StopSignal() {
  SetHandler(SIG_DFL);
  Finish();
  if (callback_thread_.joinable()) callback_thread_.join();
  g_write_fd.store(-1);
  ::close(read_fd_);
  ::close(write_fd_);
}

int StopSignal::Wait() {
  while (true) {
    unsigned char byte = 0;
    const ssize_t got = ::read(read_fd_, &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0 || byte == kFinished) {
      // Leave the mark for later calls (and the callback thread) to see.
      if (got == 1) Finish();
      return 0;
    }
    return byte;
  }
}

void StopSignal::Finish() {
  const unsigned char byte = kFinished;
  [[maybe_unused]] ssize_t written = ::write(write_fd_, &byte, 1);
}

void StopSignal::OnSignal(std::function<void(int)> on_signal) {
  callback_thread_ = std::thread([this, on_signal = std::move(on_signal)] {
    while (const int signal_number = Wait()) on_signal(signal_number);
  });
}

}  // namespace qatlab
