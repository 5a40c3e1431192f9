// The byte link to a board: a USB-UART (/dev/ttyACM0), or the pseudo-terminal
// QEMU puts the emulated UART on. Hardware sits behind this small interface so
// that tests can wrap a real port and inject the faults real UARTs show
// (see tests/device/fault_injecting_serial_port.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "status/status.h"

namespace qatlab {

class SerialPort {
 public:
  virtual ~SerialPort() = default;

  // Writes all of `data` or fails. A link whose other end has gone (the
  // emulator died, the cable was pulled) gives Unavailable.
  virtual Status Write(std::span<const uint8_t> data) = 0;

  // Waits up to `timeout` for at least one byte, then returns what is there
  // (at most buffer.size() bytes). Returns 0 when the timeout passes with
  // nothing to read: silence is not an error at this level. A link whose other
  // end has gone gives Unavailable.
  virtual StatusOr<size_t> Read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) = 0;

  // Idempotent. After Close() every call fails with FailedPrecondition.
  virtual void Close() = 0;

  // What the port is, for error messages ("/dev/pts/4").
  virtual std::string Name() const = 0;
};

struct TtyOptions {
  // Ignored by pseudo-terminals, which carry whatever is written; it matters
  // for a real USB-UART. MLPerf Tiny's performance mode runs at 115200.
  int baud = 115200;
};

// Opens a tty in raw mode (no echo, no line editing, no CR/LF translation,
// 8N1, no flow control) and discards anything already queued on it.
StatusOr<std::unique_ptr<SerialPort>> OpenTtySerialPort(const std::string& path, const TtyOptions& options = {});

}  // namespace qatlab
