#include "device_agent/serial_port.h"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qatlab {
namespace {

// A write that makes no progress for this long means the other end stopped
// reading (a hung emulator, a board stuck with interrupts off).
constexpr std::chrono::milliseconds kWriteStallTimeout{5000};

StatusOr<speed_t> BaudConstant(int baud) {
  switch (baud) {
    case 9600: return speed_t{B9600};
    case 19200: return speed_t{B19200};
    case 38400: return speed_t{B38400};
    case 57600: return speed_t{B57600};
    case 115200: return speed_t{B115200};
    case 230400: return speed_t{B230400};
    case 460800: return speed_t{B460800};
    case 921600: return speed_t{B921600};
    default:
      return Status::InvalidArgument("baud rate " + std::to_string(baud) +
                                     " is not one of 9600, 19200, 38400, 57600, 115200, "
                                     "230400, 460800, 921600");
  }
}

class TtySerialPort final : public SerialPort {
 public:
  TtySerialPort(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~TtySerialPort() override { Close(); }

  Status Write(std::span<const uint8_t> data) override {
    if (fd_ < 0) return Status::FailedPrecondition(path_ + ": write on a closed serial port");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return LinkError("write", errno);
      pollfd p{fd_, POLLOUT, 0};
      int ready = ::poll(&p, 1, static_cast<int>(kWriteStallTimeout.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return LinkError("poll for write", errno);
      if (ready == 0) {
        return Status::Unavailable(path_ + ": write stalled for " + std::to_string(kWriteStallTimeout.count()) +
                                   " ms after " + std::to_string(done) + " of " + std::to_string(data.size()) +
                                   " bytes (the other end stopped reading)");
      }
      if ((p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLOUT)) {
        return Status::Unavailable(path_ + ": the other end hung up during a write");
      }
    }
    return Status::Ok();
  }

  StatusOr<size_t> Read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) override {
    if (fd_ < 0) return Status::FailedPrecondition(path_ + ": read on a closed serial port");
    if (buffer.empty()) return size_t{0};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n > 0) return static_cast<size_t>(n);
      // A raw tty (VMIN = VTIME = 0) reports "nothing yet" as 0, not EAGAIN;
      // a hang-up shows as EIO or POLLHUP instead.
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return LinkError("read", errno);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return size_t{0};
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return LinkError("poll for read", errno);
      if (ready == 0) return size_t{0};
      // Once the other end is gone a tty is "hung up": read() returns 0 for
      // ever and poll() reports POLLHUP alongside POLLIN.
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
        return Status::Unavailable(path_ + ": the other end hung up");
      }
    }
  }

  void Close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string Name() const override { return path_; }

 private:
  Status LinkError(const char* what, int error) const {
    // EIO is what a pty slave reports once its master (QEMU) has closed.
    std::string message = path_ + ": " + what + " failed: " + std::strerror(error);
    if (error == EIO || error == ENXIO || error == ENODEV) return Status::Unavailable(message);
    return Status::IOError(message);
  }

  int fd_;
  const std::string path_;
};

}  // namespace

StatusOr<std::unique_ptr<SerialPort>> OpenTtySerialPort(const std::string& path, const TtyOptions& options) {
  QATLAB_ASSIGN_OR_RETURN(speed_t speed, BaudConstant(options.baud));
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    std::string message = "open " + path + ": " + std::strerror(error);
    if (error == ENOENT) return Status::NotFound(message);
    return Status::IOError(message);
  }
  termios tio{};
  if (::tcgetattr(fd, &tio) != 0) {
    int error = errno;
    ::close(fd);
    return Status::IOError(path + " is not a terminal: " + std::strerror(error));
  }
  ::cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~(CSTOPB | CRTSCTS);
  tio.c_iflag &= ~(IXON | IXOFF | IXANY);
  tio.c_cc[VMIN] = 0;
  tio.c_cc[VTIME] = 0;
  ::cfsetispeed(&tio, speed);
  ::cfsetospeed(&tio, speed);
  if (::tcsetattr(fd, TCSANOW, &tio) != 0) {
    int error = errno;
    ::close(fd);
    return Status::IOError("configure " + path + " raw: " + std::strerror(error));
  }
  ::tcflush(fd, TCIOFLUSH);
  return std::unique_ptr<SerialPort>(new TtySerialPort(fd, path));
}

}  // namespace qatlab
