// runner_margins: how close an emulated board runs to the MLCommons runner's
// reply timeout. The runner times throughput on the board's m-lap-us
// (virtual time under QEMU -icount) but waits for each reply line in host
// time, so what matters is the host seconds one `infer N W` window takes per
// virtual second: QEMU's slowdown, which grows with the host's load.
//
// Boots mps2-an386, uploads a seeded CNN shaped like the cnn preset, sizes N
// so that one window is about `--virtual-seconds` of virtual time, runs
// `--windows` windows and prints, per window, the virtual and host seconds
// and their ratio, with the host's load average.
//
// Usage: runner_margins [--virtual-seconds S] [--windows W]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "device_agent/dut_client.h"
#include "device_agent/qemu_board.h"
#include "engine/qmodel_writer.h"
#include "qatlab_firmware_paths.h"
#include "tests/device/seeded_models.h"

namespace qatlab {
namespace {

int Fail(const Status& status) {
  std::fprintf(stderr, "runner_margins: %s\n", status.ToString().c_str());
  return 1;
}

std::string LoadAverage() {
  std::ifstream file("/proc/loadavg");
  std::string one, five;
  file >> one >> five;
  return one + " " + five;
}

int Run(double virtual_seconds, int windows) {
  if (!QATLAB_FIRMWARE_BUILT) return Fail(Status::FailedPrecondition("built without firmware"));
  QemuBoardOptions options;
  options.firmware_elf = QATLAB_FIRMWARE_MPS2_AN386;
  StatusOr<std::unique_ptr<QemuBoard>> board = QemuBoard::Start(options);
  if (!board.ok()) return Fail(board.status());
  DutClientOptions client_options;
  client_options.per_inference_timeout = std::chrono::milliseconds(2000);
  StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect((*board)->serial(), client_options);
  if (!client.ok()) return Fail(client.status());
  StatusOr<std::vector<uint8_t>> model = WriteQModel(SeededCnnModel(1));
  if (!model.ok()) return Fail(model.status());
  if (StatusOr<LoadedModel> loaded = (*client)->UploadModel(*model); !loaded.ok()) return Fail(loaded.status());
  if (Status set = (*client)->SetInput(SeededInputs(1, 28 * 28, 2)[0]); !set.ok()) return Fail(set);

  StatusOr<MlperfWindow> probe = (*client)->MlperfInfer(5, 1);
  if (!probe.ok()) return Fail(probe.status());
  const double per_inference_us = static_cast<double>(probe->end_us - probe->start_us) / 5.0;
  const int count = std::max(1, static_cast<int>(virtual_seconds * 1e6 / per_inference_us));
  std::printf("mps2-an386, qemu icount shift=0: %.1f virtual us per inference, windows of infer %d 0\n",
              per_inference_us, count);
  std::printf("window  virtual_s  host_s  host/virtual  loadavg(1m 5m)\n");
  for (int w = 0; w < windows; ++w) {
    const auto start = std::chrono::steady_clock::now();
    StatusOr<MlperfWindow> window = (*client)->MlperfInfer(count, 0);
    const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!window.ok()) return Fail(window.status());
    const double virtual_s = static_cast<double>(window->end_us - window->start_us) / 1e6;
    std::printf("%6d  %9.3f  %6.3f  %12.2f  %s\n", w, virtual_s, host, host / virtual_s, LoadAverage().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace qatlab

int main(int argc, char** argv) {
  double virtual_seconds = 2.0;
  int windows = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--virtual-seconds") == 0) virtual_seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--windows") == 0) windows = std::atoi(argv[i + 1]);
  }
  return qatlab::Run(virtual_seconds, windows);
}
