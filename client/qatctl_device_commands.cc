// The device side of qatctl: `qatctl devices` and `qatctl measure`.
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include "client/qatctl_commands.h"
#include "client/text_table.h"

namespace qatlab {
namespace {

std::string DeviceJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return "{}";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string FormatClock(uint32_t hz) {
  if (hz == 0) return "-";
  return hz % 1000000 == 0 ? fmt::format("{} MHz", hz / 1000000) : fmt::format("{:.1f} MHz", hz / 1e6);
}

}  // namespace

int QatctlCommands::ListDevices() {
  v1::ListDevicesResponse response;
  grpc::ClientContext context;
  Prepare(&context, true);
  grpc::Status status = stub_->ListDevices(&context, v1::ListDevicesRequest(), &response);
  if (!status.ok()) return FailRpc(status);
  if (options_.json) {
    fmt::print("{}\n", DeviceJson(response));
    return 0;
  }
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"ID", "NAME", "BOARD", "CORE", "CLOCK", "FLASH", "RAM", "FIRMWARE", "KERNELS", "STATE",
                    "LAST SEEN"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight,
                    Align::kRight, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  for (const v1::Device& device : response.devices()) {
    table.AddRow({device.id(), device.name(), device.board_kind() + (device.emulated() ? " (emulated)" : ""),
                  device.core(), FormatClock(device.clock_hz()), FormatKilobytes(device.flash_bytes()),
                  FormatKilobytes(device.ram_bytes()), device.firmware_version(), device.kernel_variant(),
                  device.state(), FormatUnixMillis(device.last_seen_unix_ms())});
  }
  if (table.empty()) {
    fmt::print("no devices registered (start qatlab-agent --server {})\n", options_.address);
    return 0;
  }
  fmt::print("{}", table.Render());
  return 0;
}

int QatctlCommands::Measure(const std::string& job_id, const std::string& variant, const std::string& board_kind,
                            const std::string& device_id) {
  v1::MeasureRequest request;
  request.set_job_id(job_id);
  request.set_variant(variant);
  request.set_board_kind(board_kind);
  request.set_device_id(device_id);
  v1::MeasureResponse response;
  grpc::ClientContext context;
  Prepare(&context, true);
  grpc::Status status = stub_->Measure(&context, request, &response);
  if (!status.ok()) return FailRpc(status);
  if (options_.json) {
    fmt::print("{}\n", DeviceJson(response));
    return 0;
  }
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"MEASUREMENT", "JOB", "VARIANT", "BOARD", "DEVICE", "STATE"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  for (const v1::Measurement& m : response.measurements()) {
    table.AddRow({m.id(), m.job_id(), m.variant(), m.board_kind(), m.device_id().empty() ? "any" : m.device_id(),
                  m.state()});
  }
  fmt::print("{}", table.Render());
  return 0;
}

}  // namespace qatlab
