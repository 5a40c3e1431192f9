// The host's parser of what a board sends (device_agent/dut_client.h): the
// handshake, every command's reply lines, e-[...] errors, acknowledgements
// and the numbers and lists inside them, fed from a scripted serial port.
//
// Input: the board's replies, one per command the client writes, separated
// by 0xFF bytes (a byte the text protocol never sends). The first reply
// answers the handshake, the second `qm-info`, then the commands below in
// order. Once a reply is used up a waiting read reports the link gone, so no
// input waits out a timeout.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "device_agent/dut_client.h"
#include "device_agent/serial_port.h"

namespace qatlab {
namespace {

class ScriptedSerialPort final : public SerialPort {
 public:
  ScriptedSerialPort(const uint8_t* data, size_t size) {
    // The first byte sets how many bytes one Read returns (1..64), so that
    // lines arrive split at every place.
    if (size > 0) {
      read_size_ = 1 + data[0] % 64;
      ++data;
      --size;
    }
    std::string current;
    for (size_t i = 0; i < size; ++i) {
      if (data[i] == 0xFF) {
        replies_.push_back(current);
        current.clear();
      } else {
        current.push_back(static_cast<char>(data[i]));
      }
    }
    replies_.push_back(current);
  }

  // Each write is a command: the board's next reply becomes readable.
  Status Write(std::span<const uint8_t>) override {
    if (next_ < replies_.size()) pending_ += replies_[next_++];
    return Status::Ok();
  }

  StatusOr<size_t> Read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) override {
    if (pending_.empty()) {
      if (timeout.count() <= 0) return size_t{0};
      return Status::Unavailable("the scripted board has nothing more to say");
    }
    size_t n = std::min({buffer.size(), pending_.size(), read_size_});
    std::copy_n(pending_.begin(), n, buffer.begin());
    pending_.erase(0, n);
    return n;
  }

  void Close() override {}
  std::string Name() const override { return "fuzz"; }

 private:
  std::vector<std::string> replies_;
  size_t next_ = 0;
  std::string pending_;
  size_t read_size_ = 512;
};

}  // namespace
}  // namespace qatlab

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qatlab;
  if (size > (1u << 16)) return 0;
  ScriptedSerialPort port(data, size);
  DutClientOptions options;
  options.max_send_attempts = 2;
  options.handshake_attempts = 2;
  options.chunk_bytes = 16;
  StatusOr<std::unique_ptr<DutClient>> connected = DutClient::Connect(port, options);
  if (!connected.ok()) return 0;
  DutClient& client = **connected;

  std::vector<uint8_t> model(40);
  for (size_t i = 0; i < model.size(); ++i) model[i] = static_cast<uint8_t>(i * 7);
  UploadStats stats;
  (void)client.UploadModel(model, &stats);
  std::vector<int8_t> input(8, 3);
  (void)client.SetInput(input);
  (void)client.Output();
  (void)client.Infer(3);
  (void)client.Layers();
  (void)client.MlperfInfer(2, 1);
  (void)client.MlperfResults();
  (void)client.RawThroughput(64);
  (void)client.Info();
  return 0;
}
