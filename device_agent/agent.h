// `qatlab-agent`: owns one board and measures, on it, the integer models the
// server queues for that kind of board.
//
// The board is a real one on a serial port (`--port /dev/ttyACM0`), or, with
// no port, the qatlab firmware in QEMU on a pty (QemuBoard). The agent
// registers what the board reports (core, clock, flash, RAM, kernel variant,
// firmware version, emulated or not) and then, one at a time, as a loop over
// the shared lease client (server_client/lease_client.h, lease_keeper.h):
//   LeaseMeasurement (long poll)
//   -> GetJob for the job's data spec; the first test images of its data set
//      (engine LoadDataset, from the local cache), quantized with the model's
//      own input scale and zero point
//   -> DownloadArtifact `<variant>.qmodel` (size and sha256 checked)
//   -> a model that does not fit the board (flash, RAM, the firmware's model
//      buffer or arena) is failed for good with the reason, never attempted
//   -> MeasureModel (device_agent/measurement.h) while a heartbeat thread
//      keeps the lease
//   -> CompleteMeasurement with the MeasurementResult.
//
// The board going away (a closed port, an emulator that died) is not the
// measurement's fault: the agent reconnects (restarts QEMU) with back-off and
// runs the measurement again under the same lease, up to a few times; if the
// board cannot be brought back the measurement is given back (retryable) for
// another board. A result is only ever reported from one complete run, and a
// lease the server took back is never completed, so a measurement is recorded
// exactly once.
//
// SIGTERM or SIGINT: the emulator is stopped at once (a real board's run is
// let finish its current command), the measurement in flight is given back
// (FailMeasurement retryable), and the process exits 0.
#pragma once

#include <string>
#include <vector>

#include "device_agent/measurement.h"
#include "server_client/server_link.h"

namespace qatlab {

struct AgentOptions {
  std::string server_address;  // host:port
  std::string token_file;      // empty: $QATLAB_TOKEN, else no token (a worker token)
  TlsFlags tls;                // server_client/server_link.h

  // A real board's serial port; empty: start an emulated board.
  std::string serial_port;
  int baud = 115200;

  // Emulated board only.
  std::string board_kind = "mps2-an386";  // the QEMU machine
  std::string firmware_elf;               // empty: DefaultFirmwarePath(board_kind)
  std::string qemu_binary = "qemu-system-arm";

  // The device name the server knows the board by (re-registering the same
  // name keeps the device id). Empty: "<hostname>-<port name>" or
  // "<hostname>-qemu-<board kind>".
  std::string name;

  // The data cache (MNIST-10k in <dir>/mnist10k); empty: the engine's default.
  std::string data_cache_dir;

  int lease_wait_ms = 5000;                // long-poll length of one LeaseMeasurement
  int local_attempts = 3;                  // runs of one lease before it is given back
  int board_reconnect_timeout_ms = 60000;  // per lost board, during a measurement

  // How each model is measured; timing_model and emulated are filled in from
  // the board.
  MeasurementOptions measurement;
};

// Where the firmware ELF for an emulated `board_kind` is looked for, in
// order: next to the executable (<bindir>/firmware/<kind>/qatlab-fw.elf), in
// the install tree (<bindir>/../share/qatlab/firmware/<kind>/qatlab-fw.elf,
// i.e. the installed <datadir>/qatlab/firmware), then in the build tree this
// binary came from.
std::vector<std::string> FirmwareSearchPath(const std::string& board_kind);
// The first of FirmwareSearchPath(board_kind) that exists, else "".
std::string DefaultFirmwarePath(const std::string& board_kind);

// Runs until SIGTERM or SIGINT and returns the process exit status: 0 after a
// signal, 1 when the agent cannot run at all (bad options, unreadable token
// file, missing firmware, the server refusing the token).
// Hears the signals through a StopSignal (process/stop_signal.h).
// REQUIRES: called once per process.
int RunAgent(const AgentOptions& options);

}  // namespace qatlab
