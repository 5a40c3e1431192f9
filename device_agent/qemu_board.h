// An emulated board: qemu-system-arm running the qatlab firmware, its UART on
// a pseudo-terminal reached through the same SerialPort code as a real board.
//
// Start() follows the facts measured with QEMU 7.2 (docs/architecture.md, "The
// emulated board"): QEMU starts halted (-S) so nothing the guest prints is
// lost; the pty path is read from QEMU's stdout; the pty is opened raw; then
// QMP `cont` lets the guest run and the boot banner (`m-init-done`, `m-ready`)
// is awaited. Time runs on `-icount shift=0`, so cycle figures are a
// repeatable instruction-count model, never real latency.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "device_agent/serial_port.h"
#include "process/child_process.h"
#include "status/status.h"

namespace qatlab {

enum class BoardKind {
  kMps2An386,      // Cortex-M4, 25 MHz nominal; the default
  kNetduinoPlus2,  // STM32F405-shaped: 1 MB flash, 192 KB RAM
};

// "mps2-an386" / "netduinoplus2": the QEMU machine name.
const char* BoardKindName(BoardKind kind);
StatusOr<BoardKind> ParseBoardKind(const std::string& name);

struct QemuBoardOptions {
  BoardKind kind = BoardKind::kMps2An386;
  std::string firmware_elf;  // REQUIRES: an existing file
  std::string qemu_binary = "qemu-system-arm";
  int icount_shift = 0;                            // fixed, never "auto": repeatable timing
  std::chrono::milliseconds start_timeout{10000};  // QEMU up, pty known, banner seen
};

// Not thread-safe: one owner calls Kill(), IsAlive() and the destructor
// (killing the process from elsewhere, as tests do, is fine).
class QemuBoard {
 public:
  // Launches QEMU and returns once the firmware has printed its boot banner
  // and answered `name%` (whose reply it consumes).
  // On failure nothing is left running and the error names the step that
  // failed with the tail of QEMU's own output.
  static StatusOr<std::unique_ptr<QemuBoard>> Start(const QemuBoardOptions& options);

  // Kills the whole process group and reaps it. QEMU also gets SIGKILL when
  // the thread that called Start() exits (PR_SET_PDEATHSIG), so a crashed
  // caller leaves no emulator behind: start boards from a long-lived thread.
  ~QemuBoard();
  QemuBoard(const QemuBoard&) = delete;
  QemuBoard& operator=(const QemuBoard&) = delete;

  // The board's UART. Valid until the QemuBoard is destroyed; after Kill()
  // reads and writes fail with Unavailable.
  SerialPort& serial() { return *serial_; }

  // SIGKILL to QEMU's process group, then waitpid: no zombie is left.
  // Idempotent.
  void Kill();

  // False once QEMU has exited for whatever reason (reaps it if so).
  bool IsAlive();

  pid_t pid() const { return pid_; }
  BoardKind kind() const { return options_.kind; }
  const std::string& pty_path() const { return pty_path_; }

  // "qemu icount shift=0, virtual (instruction-count model)": how the cycle
  // figures of this board come about, for MeasurementResult.timing_model.
  std::string timing_model() const;

  // Virtual nanoseconds per guest instruction: 2^icount_shift.
  double virtual_ns_per_instruction() const { return static_cast<double>(1 << options_.icount_shift); }

  // What QEMU wrote on stdout and stderr so far (the last `max_bytes`).
  std::string OutputTail(size_t max_bytes = 2000) const;

 private:
  QemuBoard(QemuBoardOptions options, std::unique_ptr<ChildProcess> process, std::string work_dir);
  Status Boot();

  QemuBoardOptions options_;
  std::unique_ptr<ChildProcess> process_;  // null once killed or found dead (and reaped)
  pid_t pid_;
  std::string work_dir_;  // private temp directory: QMP socket, QEMU's output log
  std::string pty_path_;
  std::unique_ptr<SerialPort> serial_;
};

}  // namespace qatlab
