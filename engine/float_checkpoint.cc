#include "engine/float_checkpoint.h"

#include <cstring>
#include <string>

#include "engine/network.h"

namespace qatlab {
namespace {

constexpr char kMagic[8] = {'Q', 'L', 'F', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;

void PutU32(uint32_t value, std::vector<uint8_t>* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void PutFloat(float value, std::vector<uint8_t>* out) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  PutU32(bits, out);
}

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  bool U32(uint32_t* value) {
    if (bytes_.size() - offset_ < 4) return false;
    *value = 0;
    for (int i = 0; i < 4; ++i) *value |= static_cast<uint32_t>(bytes_[offset_ + i]) << (8 * i);
    offset_ += 4;
    return true;
  }
  size_t remaining() const { return bytes_.size() - offset_; }
  size_t offset() const { return offset_; }
  void Skip(size_t n) { offset_ += n; }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t offset_ = 0;
};

std::vector<FloatBuffer*> LayerState(Network* net, int layer) {
  std::vector<FloatBuffer*> state;
  if (net->layer(layer) != nullptr) net->layer(layer)->State(&state);
  return state;
}

Status Truncated(size_t offset) {
  return Status::InvalidArgument("float checkpoint: truncated at byte " + std::to_string(offset));
}

}  // namespace

std::vector<uint8_t> WriteFloatCheckpoint(Network& net) {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  PutU32(kVersion, &out);
  PutU32(static_cast<uint32_t>(net.layer_count()), &out);
  for (int i = 0; i < net.layer_count(); ++i) {
    const std::vector<FloatBuffer*> state = LayerState(&net, i);
    PutU32(static_cast<uint32_t>(state.size()), &out);
    for (const FloatBuffer* buffer : state) {
      PutU32(static_cast<uint32_t>(buffer->size()), &out);
      for (float value : *buffer) PutFloat(value, &out);
    }
  }
  return out;
}

Status LoadFloatCheckpoint(const std::vector<uint8_t>& bytes, Network* net) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::InvalidArgument("float checkpoint: not a qatlab float checkpoint (bad magic)");
  }
  Reader reader(bytes);
  reader.Skip(sizeof kMagic);
  uint32_t version = 0, layers = 0;
  if (!reader.U32(&version) || !reader.U32(&layers)) return Truncated(reader.offset());
  if (version != kVersion) {
    return Status::InvalidArgument("float checkpoint: version " + std::to_string(version) + ", this engine reads " +
                                   std::to_string(kVersion));
  }
  if (layers != static_cast<uint32_t>(net->layer_count())) {
    return Status::InvalidArgument("float checkpoint: " + std::to_string(layers) + " layers, the model has " +
                                   std::to_string(net->layer_count()));
  }
  // Checked whole before anything is copied, so a bad file changes nothing.
  std::vector<std::vector<FloatBuffer*>> states(layers);
  std::vector<size_t> offsets;
  for (uint32_t i = 0; i < layers; ++i) {
    states[i] = LayerState(net, static_cast<int>(i));
    const std::string label = LayerLabel(net->layer_config(static_cast<int>(i)), static_cast<int>(i));
    uint32_t buffers = 0;
    if (!reader.U32(&buffers)) return Truncated(reader.offset());
    if (buffers != states[i].size()) {
      return Status::InvalidArgument("float checkpoint: " + label + " has " + std::to_string(buffers) +
                                     " buffers, the model's layer " + std::to_string(states[i].size()));
    }
    for (uint32_t b = 0; b < buffers; ++b) {
      uint32_t values = 0;
      if (!reader.U32(&values)) return Truncated(reader.offset());
      if (values != states[i][b]->size()) {
        return Status::InvalidArgument("float checkpoint: " + label + " buffer " + std::to_string(b) + " has " +
                                       std::to_string(values) + " values, the model's " +
                                       std::to_string(states[i][b]->size()));
      }
      if (reader.remaining() < 4ull * values) return Truncated(bytes.size());
      offsets.push_back(reader.offset());
      reader.Skip(4ull * values);
    }
  }
  if (reader.remaining() != 0) {
    return Status::InvalidArgument("float checkpoint: " + std::to_string(reader.remaining()) +
                                   " bytes after the last layer");
  }
  size_t next = 0;
  for (auto& state : states) {
    for (FloatBuffer* buffer : state) {
      const size_t offset = offsets[next++];
      for (size_t k = 0; k < buffer->size(); ++k) {
        uint32_t bits = 0;
        for (int j = 0; j < 4; ++j) bits |= static_cast<uint32_t>(bytes[offset + 4 * k + j]) << (8 * j);
        std::memcpy(&(*buffer)[k], &bits, sizeof bits);
      }
    }
  }
  return Status::Ok();
}

}  // namespace qatlab
