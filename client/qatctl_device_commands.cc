// The device side of qatctl: `qatctl devices`, `qatctl measure` and
// `qatctl cancel-measurement`.
#include <fmt/format.h>

#include <unistd.h>

#include "client/progress_view.h"
#include "client/qatctl_commands.h"
#include "client/terminal.h"
#include "client/text_table.h"

namespace qatlab {
namespace {

// `address`: the server's, for the hint when no device is registered yet.
void PrintDeviceTable(const v1::ListDevicesResponse& response, const std::string& address) {
  if (response.devices().empty()) {
    fmt::print("no devices registered (start qatlab-agent --server {})\n", address);
    return;
  }
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns(
      {"ID", "NAME", "BOARD", "CORE", "CLOCK", "FLASH", "RAM", "FIRMWARE", "KERNELS", "STATE", "LAST SEEN"},
      {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
       Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  for (const v1::Device& device : response.devices()) {
    table.AddRow({device.id(), device.name(), device.board_kind() + (device.emulated() ? " (emulated)" : ""),
                  device.core(), FormatClock(device.clock_hz()), FormatKilobytes(device.flash_bytes()),
                  FormatKilobytes(device.ram_bytes()), device.firmware_version(), device.kernel_variant(),
                  device.state(), FormatUnixMillis(device.last_seen_unix_ms())});
  }
  fmt::print("{}", table.Render());
}

void PrintMeasurementTable(const v1::MeasureResponse& response) {
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"MEASUREMENT", "JOB", "VARIANT", "BOARD", "DEVICE", "STATE"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  for (const v1::Measurement& m : response.measurements()) {
    table.AddRow(
        {m.id(), m.job_id(), m.variant(), m.board_kind(), m.device_id().empty() ? "any" : m.device_id(), m.state()});
  }
  fmt::print("{}", table.Render());
}

}  // namespace

int QatctlCommands::ListDevices() {
  return CallAndPrint(&v1::ExperimentService::Stub::ListDevices, v1::ListDevicesRequest(),
                      [this](const v1::ListDevicesResponse& devices) { PrintDeviceTable(devices, options_.address); });
}

int QatctlCommands::Measure(const std::string& job_id, const std::string& variant, const std::string& board_kind,
                            const std::string& device_id, bool watch) {
  v1::MeasureRequest request;
  request.set_job_id(job_id);
  request.set_variant(variant);
  request.set_board_kind(board_kind);
  request.set_device_id(device_id);
  if (!watch) return CallAndPrint(&v1::ExperimentService::Stub::Measure, request, PrintMeasurementTable);

  v1::MeasureResponse queued;
  grpc::Status status = Call(&v1::ExperimentService::Stub::Measure, request, &queued);
  if (!status.ok()) return FailRpc(status);
  std::vector<std::string> ids;
  for (const v1::Measurement& measurement : queued.measurements()) ids.push_back(measurement.id());
  // The measurements' lines under the job's header, redrawn in place on a
  // terminal (ProgressView without variants).
  ProgressView view(options_.json ? nullptr : stdout, IsTerminal(STDOUT_FILENO),
                    [] { return TerminalColumns(STDOUT_FILENO); });
  v1::GetResultsResponse last;
  int exit_status = FollowMeasurements(
      job_id, ids,
      [&view](const v1::GetResultsResponse& results) {
        v1::JobEvent event;
        *event.mutable_job() = results.job();
        event.mutable_job()->clear_spec();  // no variant lines: this follows measurements only
        view.OnEvent(event);
        view.OnMeasurements(results);
      },
      &last);
  if (options_.json && !last.job().id().empty()) PrintJson(last);
  return exit_status;
}

int QatctlCommands::CancelMeasurement(const std::string& measurement_id) {
  v1::CancelMeasurementRequest request;
  request.set_measurement_id(measurement_id);
  return CallAndPrint(&v1::ExperimentService::Stub::CancelMeasurement, request, [](const v1::Measurement& m) {
    v1::MeasureResponse one;
    *one.add_measurements() = m;
    PrintMeasurementTable(one);
    if (!m.error().empty()) fmt::print("{}\n", m.error());
  });
}

}  // namespace qatlab
