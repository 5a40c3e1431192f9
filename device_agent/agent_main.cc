// qatlab-agent: parses flags and runs the agent (device_agent/agent.h).
#include <CLI/CLI.hpp>

#include "device_agent/agent.h"
#include "server_client/tls_command_line.h"
#include "version/version.h"

int main(int argc, char** argv) {
  qatlab::AgentOptions options;
  CLI::App app{"qatlab-agent: measures the server's integer models on one board (real, or emulated in QEMU)"};
  app.set_version_flag("--version", qatlab::VersionLine("qatlab-agent"));
  app.add_option("--server", options.server_address, "qatlab-server address, HOST:PORT")->required();
  app.add_option("--token-file", options.token_file, "file holding a worker token ($QATLAB_TOKEN)");
  qatlab::AddTlsFlags(app, &options.tls);
  app.add_option("--port", options.serial_port,
                 "serial port of a real board, e.g. /dev/ttyACM0; without it QEMU runs the firmware");
  app.add_option("--baud", options.baud, "baud rate of --port")->capture_default_str();
  app.add_option("--name", options.name, "device name (default: <hostname>-<port> or <hostname>-qemu-<board>)");
  app.add_option("--board", options.board_kind, "emulated board: mps2-an386 or netduinoplus2")->capture_default_str();
  app.add_option("--firmware", options.firmware_elf, "firmware ELF for the emulated board (default: the built one)");
  app.add_option("--qemu", options.qemu_binary, "qemu-system-arm to run")->capture_default_str();
  app.add_option("--data-cache", options.data_cache_dir, "data cache directory (default: the engine's)");
  app.add_option("--lease-wait-ms", options.lease_wait_ms, "long-poll length of one lease request")
      ->capture_default_str();
  app.add_option("--local-attempts", options.local_attempts,
                 "runs of one measurement on a board that keeps going away, before it is given back")
      ->capture_default_str();
  app.add_option("--check-inputs", options.measurement.check_inputs,
                 "test inputs whose outputs are compared bit-exact with the host")
      ->capture_default_str();
  app.add_option("--accuracy-samples", options.measurement.accuracy_samples,
                 "labelled test inputs run for the on-device accuracy")
      ->capture_default_str();
  app.add_option("--warmup", options.measurement.warmup, "inferences before the timed windows")->capture_default_str();
  app.add_option("--windows", options.measurement.windows, "timed windows")->capture_default_str();
  app.add_option("--inferences-per-window", options.measurement.inferences_per_window,
                 "back-to-back inferences per window")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return qatlab::RunAgent(options);
}
