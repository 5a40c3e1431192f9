// A SerialPort wrapper that damages traffic the way real links do: a flipped
// bit, lost bytes, line noise. Tests put it between a DutClient and a real
// port (a real emulated board) to check that the protocol recovers, instead of
// mocking the board.
//
// Faults are armed ahead of time and fire once, on a write chosen by size, so
// a test can aim at "the first model chunk" without knowing how the client
// splits its traffic into Write() calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "device_agent/serial_port.h"

namespace qatlab {

enum class WriteFaultKind {
  kFlipByte,   // XOR one byte with 0xFF
  kDropBytes,  // remove `count` bytes; the rest is sent
};

struct WriteFault {
  WriteFaultKind kind = WriteFaultKind::kFlipByte;
  // The fault hits the (skip + 1)-th write of at least `min_write_bytes`
  // bytes counted from when it is armed.
  size_t min_write_bytes = 1;
  int skip = 0;
  // Position of the damage counted back from the end of that write, so that
  // it lands in a binary payload rather than in a text header before it.
  size_t offset_from_end = 1;
  size_t count = 1;  // kDropBytes only
};

class FaultInjectingSerialPort final : public SerialPort {
 public:
  // `inner` is not owned and must outlive this wrapper.
  explicit FaultInjectingSerialPort(SerialPort& inner) : inner_(inner) {}

  void ArmWriteFault(const WriteFault& fault);

  // `bytes` go out on the line, unasked, just before the next write.
  void InjectGarbageBeforeNextWrite(std::vector<uint8_t> bytes);

  // How many armed faults have fired so far (garbage injections included).
  int faults_fired() const;

  // Bytes passed to Write() so far (before any damage): lets a test check
  // that something was, or was not, sent.
  int64_t bytes_written() const;

  Status Write(std::span<const uint8_t> data) override;
  StatusOr<size_t> Read(std::span<uint8_t> buffer, std::chrono::milliseconds timeout) override {
    return inner_.Read(buffer, timeout);
  }
  void Close() override { inner_.Close(); }
  std::string Name() const override { return inner_.Name() + " (fault-injecting)"; }

 private:
  struct ArmedFault {
    WriteFault fault;
    int writes_to_skip = 0;
  };

  SerialPort& inner_;
  mutable std::mutex mutex_;
  std::vector<ArmedFault> armed_;  // guarded by mutex_
  std::vector<uint8_t> garbage_;   // guarded by mutex_
  int fired_ = 0;                  // guarded by mutex_
  int64_t bytes_written_ = 0;      // guarded by mutex_
};

}  // namespace qatlab
