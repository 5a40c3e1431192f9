#include "tests/device/fault_injecting_serial_port.h"

#include <algorithm>

namespace qatlab {

void FaultInjectingSerialPort::ArmWriteFault(const WriteFault& fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_.push_back({fault, fault.skip});
}

void FaultInjectingSerialPort::InjectGarbageBeforeNextWrite(std::vector<uint8_t> bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  garbage_.insert(garbage_.end(), bytes.begin(), bytes.end());
}

int FaultInjectingSerialPort::faults_fired() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fired_;
}

int64_t FaultInjectingSerialPort::bytes_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_written_;
}

Status FaultInjectingSerialPort::Write(std::span<const uint8_t> data) {
  std::vector<uint8_t> out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bytes_written_ += static_cast<int64_t>(data.size());
    if (!garbage_.empty()) {
      out.swap(garbage_);
      ++fired_;
    }
    size_t payload_start = out.size();
    out.insert(out.end(), data.begin(), data.end());
    for (auto it = armed_.begin(); it != armed_.end();) {
      if (data.size() < it->fault.min_write_bytes) {
        ++it;
        continue;
      }
      if (it->writes_to_skip > 0) {
        --it->writes_to_skip;
        ++it;
        continue;
      }
      const WriteFault& fault = it->fault;
      size_t back = std::min(fault.offset_from_end, data.size());
      size_t position = payload_start + data.size() - back;
      if (fault.kind == WriteFaultKind::kFlipByte) {
        out[position] ^= 0xFF;
      } else {
        size_t count = std::min(fault.count, out.size() - position);
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(position),
                  out.begin() + static_cast<std::ptrdiff_t>(position + count));
      }
      ++fired_;
      it = armed_.erase(it);
      break;  // one fault per write keeps the damage predictable
    }
  }
  return inner_.Write(out);
}

}  // namespace qatlab
