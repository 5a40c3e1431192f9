#include "device_agent/qemu_board.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace qatlab {
namespace {

using Clock = std::chrono::steady_clock;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// QEMU 7.2 announces the pty on stdout as
//   char device redirected to /dev/pts/4 (label serial0)
std::string FindPtyPath(const std::string& qemu_output) {
  static const std::string kPrefix = "char device redirected to ";
  size_t at = qemu_output.find(kPrefix);
  while (at != std::string::npos) {
    size_t start = at + kPrefix.size();
    size_t end = qemu_output.find(' ', start);
    size_t line_end = qemu_output.find('\n', start);
    if (end != std::string::npos && line_end != std::string::npos && end < line_end &&
        qemu_output.compare(end, 16, " (label serial0)") == 0) {
      return qemu_output.substr(start, end - start);
    }
    at = qemu_output.find(kPrefix, start);
  }
  return "";
}

// A minimal QMP conversation over a unix socket: one JSON object per line.
class QmpConnection {
 public:
  ~QmpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Connect(const std::string& socket_path, Clock::time_point deadline) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path)) {
      return Status::InvalidArgument("QMP socket path too long: " + socket_path);
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    while (true) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return Status::IOError(std::string("QMP socket: ") + std::strerror(errno));
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) break;
      int error = errno;
      ::close(fd_);
      fd_ = -1;
      if (Clock::now() > deadline) {
        return Status::Unavailable("connect to QMP at " + socket_path + ": " + std::strerror(error));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // The greeting: {"QMP": {...}}
    QATLAB_ASSIGN_OR_RETURN(const std::string greeting, ReadLine(deadline));
    if (greeting.find("\"QMP\"") == std::string::npos) {
      return Status::Corruption("QMP greeting expected, got: " + greeting);
    }
    return Status::Ok();
  }

  // Sends {"execute": command} and waits for its {"return": ...}, skipping
  // asynchronous events such as {"event": "RESUME"}.
  Status Execute(const std::string& command, Clock::time_point deadline) {
    std::string request = "{\"execute\": \"" + command + "\"}\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      return Status::Unavailable("QMP " + command + ": send failed: " + std::strerror(errno));
    }
    while (true) {
      StatusOr<std::string> line = ReadLine(deadline);
      if (!line.ok()) return line.status().WithContext("QMP " + command);
      if (line->find("\"return\"") != std::string::npos) return Status::Ok();
      if (line->find("\"error\"") != std::string::npos) {
        return Status::Internal("QMP " + command + " failed: " + *line);
      }
    }
  }

 private:
  StatusOr<std::string> ReadLine(Clock::time_point deadline) {
    while (true) {
      size_t newline = pending_.find('\n');
      if (newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        return line;
      }
      if (Clock::now() > deadline) return Status::Unavailable("no reply from QMP in time");
      char buffer[512];
      ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        pending_.append(buffer, static_cast<size_t>(n));
      } else if (n == 0) {
        return Status::Unavailable("QMP connection closed by QEMU");
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return Status::Unavailable(std::string("QMP read: ") + std::strerror(errno));
      }
    }
  }

  int fd_ = -1;
  std::string pending_;
};

}  // namespace

const char* BoardKindName(BoardKind kind) {
  switch (kind) {
    case BoardKind::kMps2An386: return "mps2-an386";
    case BoardKind::kNetduinoPlus2: return "netduinoplus2";
  }
  return "unknown";
}

StatusOr<BoardKind> ParseBoardKind(const std::string& name) {
  if (name.empty() || name == "mps2-an386") return BoardKind::kMps2An386;
  if (name == "netduinoplus2") return BoardKind::kNetduinoPlus2;
  return Status::InvalidArgument("unknown board kind '" + name + "' (known: mps2-an386, netduinoplus2)");
}

QemuBoard::QemuBoard(QemuBoardOptions options, std::unique_ptr<ChildProcess> process, std::string work_dir)
    : options_(std::move(options)),
      process_(std::move(process)),
      pid_(process_->pid()),
      work_dir_(std::move(work_dir)) {}

QemuBoard::~QemuBoard() {
  Kill();
  if (serial_) serial_->Close();
  std::error_code ignored;
  std::filesystem::remove_all(work_dir_, ignored);
}

StatusOr<std::unique_ptr<QemuBoard>> QemuBoard::Start(const QemuBoardOptions& options) {
  if (options.firmware_elf.empty() || !std::filesystem::is_regular_file(options.firmware_elf)) {
    return Status::NotFound("firmware ELF '" + options.firmware_elf + "' does not exist");
  }
  if (options.icount_shift < 0 || options.icount_shift > 10) {
    return Status::InvalidArgument("icount shift " + std::to_string(options.icount_shift) + " is outside 0..10");
  }
  char work_template[] = "/tmp/qatlab-qemu-XXXXXX";
  if (::mkdtemp(work_template) == nullptr) {
    return Status::IOError(std::string("mkdtemp for QEMU: ") + std::strerror(errno));
  }
  std::string work_dir = work_template;
  std::string log_path = work_dir + "/qemu.log";
  std::string qmp_path = work_dir + "/qmp.sock";

  std::vector<std::string> args = {
      options.qemu_binary,
      "-M",
      BoardKindName(options.kind),
      "-nographic",
      "-monitor",
      "none",
      "-serial",
      "pty",
      "-icount",
      "shift=" + std::to_string(options.icount_shift),
      "-S",
      "-qmp",
      "unix:" + qmp_path + ",server=on,wait=off",
      "-kernel",
      options.firmware_elf,
  };
  ChildSpec spec;
  spec.argv = std::move(args);
  spec.stdout_to = ChildOutput::kFile;
  spec.stdout_path = log_path;
  spec.stderr_to = ChildOutput::kFile;
  spec.stderr_path = log_path;
  spec.truncate_files = true;
  // Its own process group, so Kill() takes everything QEMU may spawn; dies
  // with the thread that started it, so a crashed caller leaves no emulator.
  spec.own_process_group = true;
  spec.death_signal = SIGKILL;
  StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(spec);
  if (!process.ok()) {
    std::filesystem::remove_all(work_dir);
    return process.status().WithContext(std::string("start QEMU ") + BoardKindName(options.kind));
  }

  std::unique_ptr<QemuBoard> board(new QemuBoard(options, std::move(process).value(), work_dir));
  Status booted = board->Boot();
  if (!booted.ok()) {
    std::string tail = board->OutputTail(600);
    board->Kill();
    return Status(booted).WithContext(std::string("start QEMU ") + BoardKindName(options.kind) + " with " +
                                      options.firmware_elf + (tail.empty() ? "" : " (QEMU said: " + tail + ")"));
  }
  return board;
}

Status QemuBoard::Boot() {
  Clock::time_point deadline = Clock::now() + options_.start_timeout;
  std::string log_path = work_dir_ + "/qemu.log";

  while (pty_path_.empty()) {
    if (!IsAlive()) return Status::Unavailable("QEMU exited before announcing its pty");
    pty_path_ = FindPtyPath(ReadWholeFile(log_path));
    if (!pty_path_.empty()) break;
    if (Clock::now() > deadline) {
      return Status::Unavailable("QEMU did not announce the serial0 pty in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  QATLAB_ASSIGN_OR_RETURN(serial_, OpenTtySerialPort(pty_path_));

  QmpConnection qmp;
  QATLAB_RETURN_IF_ERROR(qmp.Connect(work_dir_ + "/qmp.sock", deadline));
  QATLAB_RETURN_IF_ERROR(qmp.Execute("qmp_capabilities", deadline));
  QATLAB_RETURN_IF_ERROR(qmp.Execute("cont", deadline));

  // The banner ends with m-init-done then m-ready (docs/protocol.md, "Boot banner").
  std::string received;
  uint8_t buffer[256];
  auto await_line = [&](const std::string& wanted, const char* step) -> Status {
    while (true) {
      size_t line_end;
      while ((line_end = received.find('\n')) != std::string::npos) {
        std::string line = received.substr(0, line_end);
        received.erase(0, line_end + 1);
        while (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == wanted) return Status::Ok();
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return Status::Unavailable(std::string("no '") + wanted + "' from the firmware " + step +
                                   " in time; unfinished line: '" + received.substr(0, 200) + "'");
      }
      StatusOr<size_t> n = serial_->Read(buffer, std::min(left, std::chrono::milliseconds(100)));
      if (!n.ok()) return n.status().WithContext(step);
      received.append(reinterpret_cast<const char*>(buffer), *n);
      if (*n == 0 && !IsAlive()) return Status::Unavailable(std::string("QEMU exited ") + step);
    }
  };
  QATLAB_RETURN_IF_ERROR(await_line("m-init-done", "during boot"));
  QATLAB_RETURN_IF_ERROR(await_line("m-ready", "during boot"));

  // A banner proves the guest writes; one answered command proves it also
  // reads, so a firmware that boots but never services its UART fails here,
  // naming the step, rather than in the caller's first command.
  static const uint8_t kProbe[] = {'n', 'a', 'm', 'e', '%'};
  QATLAB_RETURN_IF_ERROR(serial_->Write(kProbe).WithContext("first command to the board"));
  QATLAB_RETURN_IF_ERROR(await_line("m-ready", "answering its first command (name%)"));
  return Status::Ok();
}

void QemuBoard::Kill() {
  // The destructor SIGKILLs the group and reaps QEMU.
  process_.reset();
}

bool QemuBoard::IsAlive() {
  if (process_ == nullptr) return false;
  // Poll() also kills what QEMU left in its group once it has ended.
  if (process_->Running()) return true;
  process_.reset();
  return false;
}

std::string QemuBoard::timing_model() const {
  return "qemu icount shift=" + std::to_string(options_.icount_shift) + ", virtual (instruction-count model)";
}

std::string QemuBoard::OutputTail(size_t max_bytes) const {
  std::string text = ReadWholeFile(work_dir_ + "/qemu.log");
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace qatlab
