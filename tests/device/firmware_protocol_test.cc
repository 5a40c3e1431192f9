// The firmware's serial protocol (docs/protocol.md), checked against the real
// firmware images running in QEMU: every MLPerf Tiny command, garbage on the
// line, qatlab's binary model upload, inference outputs bit-exact with the
// host kernels, deterministic cycle counts, and the other boards' images.
//
// Each test boots a fresh board: QEMU starts stopped (-S) with its UART on a
// pty, the test opens the pty raw and then resumes the machine through QMP,
// so the boot banner is not lost (docs/architecture.md, "The emulated board").
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process/child_process.h"
#include "qatlab_firmware_paths.h"
#include "qatlab_kernels/qmodel.h"
#include "qatlab_kernels/qmodel_format.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait_until.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- A test-local emulated board: QEMU + pty + QMP ------------------------

// One QEMU process running one firmware image, its UART on a raw pty.
// Not thread-safe; one per test.
class EmulatedBoard {
 public:
  EmulatedBoard() = default;
  EmulatedBoard(const EmulatedBoard&) = delete;
  EmulatedBoard& operator=(const EmulatedBoard&) = delete;
  ~EmulatedBoard() { Stop(); }

  // Starts `machine` running `elf`. Returns "" on success, else what failed.
  std::string Start(const std::string& elf, const std::string& machine) {
    if (!std::filesystem::exists(elf)) return "no firmware image at " + elf;
    temp_dir_ = std::make_unique<qatlab::test_support::TempDir>();
    const std::string qmp_path = temp_dir_->File("qmp.sock");

    qatlab::ChildSpec spec;
    spec.argv = {"qemu-system-arm",
                 "-M",
                 machine,
                 "-nographic",
                 "-monitor",
                 "none",
                 "-serial",
                 "pty",
                 "-icount",
                 "shift=0",
                 "-S",
                 "-qmp",
                 "unix:" + qmp_path + ",server,nowait",
                 "-kernel",
                 elf};
    // QEMU names the pty on its standard output; its errors go to stderr.
    spec.stdout_to = qatlab::ChildOutput::kPipe;
    spec.stderr_to = qatlab::ChildOutput::kFile;
    spec.stderr_path = temp_dir_->File("qemu-stderr.log");
    qatlab::StatusOr<std::unique_ptr<qatlab::ChildProcess>> qemu = qatlab::ChildProcess::Start(spec);
    if (!qemu.ok()) return "cannot start qemu-system-arm: " + qemu.status().ToString();
    qemu_ = std::move(*qemu);
    qemu_output_ = qemu_->stdout_fd();

    std::string output;
    const auto deadline = Clock::now() + milliseconds(5000);
    std::string pty_path;
    while (Clock::now() < deadline && pty_path.empty()) {
      if (!WaitReadable(qemu_output_, milliseconds(100))) continue;
      char buffer[512];
      const ssize_t got = read(qemu_output_, buffer, sizeof buffer);
      if (got <= 0) {
        return "QEMU exited before naming its pty; it said: " + output +
               qatlab::test_support::ReadWholeFile(spec.stderr_path);
      }
      output.append(buffer, static_cast<size_t>(got));
      const auto at = output.find("/dev/pts/");
      if (at != std::string::npos) {
        const auto end = output.find_first_of(" \r\n", at);
        if (end != std::string::npos) pty_path = output.substr(at, end - at);
      }
    }
    if (pty_path.empty()) {
      return "QEMU did not name its pty within 5 s; it said: " + output +
             qatlab::test_support::ReadWholeFile(spec.stderr_path);
    }

    pty_ = open(pty_path.c_str(), O_RDWR | O_NOCTTY);
    if (pty_ < 0) return "cannot open " + pty_path;
    termios settings{};
    if (tcgetattr(pty_, &settings) != 0) return "tcgetattr failed on " + pty_path;
    cfmakeraw(&settings);
    if (tcsetattr(pty_, TCSANOW, &settings) != 0) return "tcsetattr failed on " + pty_path;

    return Resume(qmp_path);
  }

  void Stop() {
    qemu_.reset();  // SIGKILL and reap; closes its output pipe
    if (pty_ >= 0) close(pty_);
    if (qmp_ >= 0) close(qmp_);
    pty_ = qemu_output_ = qmp_ = -1;
    temp_dir_.reset();
  }

  // Blocking: a pty takes bytes as fast as QEMU drains them into the guest.
  bool Write(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    while (size > 0) {
      const ssize_t wrote = write(pty_, bytes, size);
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote <= 0) return false;
      bytes += wrote;
      size -= static_cast<size_t>(wrote);
    }
    return true;
  }
  bool Write(const std::string& text) { return Write(text.data(), text.size()); }
  bool Write(const std::vector<uint8_t>& bytes) { return Write(bytes.data(), bytes.size()); }

  // The next "\r\n"-ended line without its ending, or nothing on timeout.
  std::optional<std::string> ReadLine(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto end = pending_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = pending_.substr(0, end);
        pending_.erase(0, end + 2);
        return line;
      }
      const auto now = Clock::now();
      if (now >= deadline) return std::nullopt;
      if (!FillPending(std::chrono::duration_cast<milliseconds>(deadline - now))) continue;
    }
  }

  // Lines up to and excluding "m-ready"; `ready` tells whether it came.
  struct Reply {
    std::vector<std::string> lines;
    bool ready = false;
  };
  Reply ReadReply(milliseconds timeout = milliseconds(5000)) {
    Reply reply;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto line = ReadLine(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
      if (!line) break;
      if (*line == "m-ready") {
        reply.ready = true;
        break;
      }
      reply.lines.push_back(*line);
    }
    return reply;
  }

  // Sends `command` followed by '%' and reads the reply.
  Reply Command(const std::string& command, milliseconds timeout = milliseconds(5000)) {
    if (!Write(command + "%")) return {};
    return ReadReply(timeout);
  }

  // Reads and drops everything until the line is quiet for `quiet`.
  std::string Drain(milliseconds quiet) {
    std::string drained = pending_;
    pending_.clear();
    while (FillPending(quiet)) {
      drained += pending_;
      pending_.clear();
    }
    return drained;
  }

 private:
  static bool WaitReadable(int fd, milliseconds timeout) {
    pollfd pfd{fd, POLLIN, 0};
    return poll(&pfd, 1, static_cast<int>(timeout.count())) > 0;
  }

  // Appends what the pty has within `timeout`; false when nothing came.
  bool FillPending(milliseconds timeout) {
    if (!WaitReadable(pty_, timeout)) return false;
    char buffer[4096];
    const ssize_t got = read(pty_, buffer, sizeof buffer);
    if (got <= 0) return false;
    pending_.append(buffer, static_cast<size_t>(got));
    return true;
  }

  // QMP handshake, then "cont": the guest starts only now that the pty is open.
  std::string Resume(const std::string& qmp_path) {
    const auto deadline = Clock::now() + milliseconds(5000);
    qmp_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", qmp_path.c_str());
    const ::testing::AssertionResult connected = qatlab::test_support::WaitUntil(
        [&] { return connect(qmp_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0; },
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()), "QMP to listen at " + qmp_path);
    if (!connected) return connected.message();
    std::string qmp_text;
    auto read_until = [&](const std::string& needle) {
      while (qmp_text.find(needle) == std::string::npos && Clock::now() < deadline) {
        if (!WaitReadable(qmp_, milliseconds(100))) continue;
        char buffer[1024];
        const ssize_t got = read(qmp_, buffer, sizeof buffer);
        if (got <= 0) return false;
        qmp_text.append(buffer, static_cast<size_t>(got));
      }
      const auto at = qmp_text.find(needle);
      if (at == std::string::npos) return false;
      qmp_text.erase(0, at + needle.size());
      return true;
    };
    auto send = [&](const std::string& text) { return write(qmp_, text.data(), text.size()) == ssize_t(text.size()); };
    if (!read_until("\"QMP\"")) return "no QMP greeting";
    if (!send("{\"execute\":\"qmp_capabilities\"}\n") || !read_until("\"return\"")) return "qmp_capabilities failed";
    if (!send("{\"execute\":\"cont\"}\n") || !read_until("\"return\"")) return "QMP cont failed";
    return "";
  }

  std::unique_ptr<qatlab::test_support::TempDir> temp_dir_;  // the QMP socket, QEMU's stdout
  std::unique_ptr<qatlab::ChildProcess> qemu_;
  int pty_ = -1;
  int qemu_output_ = -1;  // QEMU's stderr, owned by qemu_
  int qmp_ = -1;
  std::string pending_;
};

// ---- Test models, generated from a seed (qmodel_format.h layout) ----------

struct ModelShape {
  uint32_t height = 8, width = 8, channels = 2;  // input
  uint32_t conv_channels = 4;                    // 3x3, padding 1, ReLU
  uint32_t hidden = 0;                           // optional dense layer after the pool
  uint32_t classes = 10;
  uint32_t arena_gap = 0;  // extra arena bytes before the conv output
};

class ModelWriter {
 public:
  void U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
  void PutU32(size_t offset, uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  void Align4() {
    while (bytes.size() % 4) bytes.push_back(0);
  }
  std::vector<uint8_t> bytes;
};

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// conv2d(3x3, pad 1, ReLU) → maxpool(2x2, stride 2) → [dense(hidden), ReLU] →
// dense(classes), int8 weights and parameters from a SplitMix-like PRNG.
std::vector<uint8_t> BuildTestModel(const ModelShape& shape, uint32_t seed) {
  std::mt19937 random(seed);
  auto uniform = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };

  struct Tensor {
    uint32_t h, w, c;
    int32_t zero_point;
    float scale;
    uint32_t arena_offset;
  };
  struct Op {
    uint32_t kind, input, output, kernel, stride, padding;
    int32_t act_min, act_max;
    uint32_t channels, row_bytes;  // weighted ops
    int32_t shift;
  };
  std::vector<Tensor> tensors;
  uint32_t arena = 0;
  auto add_tensor = [&](uint32_t h, uint32_t w, uint32_t c, int32_t zero_point, float scale, uint32_t gap) {
    arena += gap;
    tensors.push_back({h, w, c, zero_point, scale, arena});
    arena += (h * w * c + 3u) & ~3u;
    return static_cast<uint32_t>(tensors.size() - 1);
  };
  const uint32_t input = add_tensor(shape.height, shape.width, shape.channels, -3, 0.02f, 0);
  const uint32_t conv = add_tensor(shape.height, shape.width, shape.conv_channels, -128, 0.05f, shape.arena_gap);
  const uint32_t pooled = add_tensor(shape.height / 2, shape.width / 2, shape.conv_channels, -128, 0.05f, 0);
  std::vector<Op> ops;
  ops.push_back({QK_OP_CONV2D, input, conv, 3, 1, 1, -128, 127, shape.conv_channels, 9 * shape.channels, -8});
  ops.push_back({QK_OP_MAXPOOL, conv, pooled, 2, 2, 0, -128, 127, 0, 0, 0});
  uint32_t last = pooled;
  uint32_t last_size = (shape.height / 2) * (shape.width / 2) * shape.conv_channels;
  if (shape.hidden > 0) {
    const uint32_t hidden = add_tensor(1, 1, shape.hidden, -128, 0.1f, 0);
    ops.push_back({QK_OP_DENSE, last, hidden, 1, 1, 0, -128, 127, shape.hidden, last_size, -10});
    last = hidden;
    last_size = shape.hidden;
  }
  const uint32_t logits = add_tensor(1, 1, shape.classes, 5, 0.125f, 0);
  ops.push_back({QK_OP_DENSE, last, logits, 1, 1, 0, -128, 127, shape.classes, last_size, -10});

  ModelWriter writer;
  const uint32_t tensor_table = QK_HEADER_BYTES;
  const uint32_t op_table = tensor_table + static_cast<uint32_t>(tensors.size()) * QK_TENSOR_RECORD_BYTES;
  const uint32_t data_start = op_table + static_cast<uint32_t>(ops.size()) * QK_OP_RECORD_BYTES;
  writer.bytes.resize(data_start, 0);
  std::memcpy(writer.bytes.data(), "QMDL", 4);
  writer.PutU32(QK_HEADER_VERSION, QK_FORMAT_VERSION);
  writer.PutU32(QK_HEADER_HEADER_BYTES, tensor_table);
  writer.PutU32(QK_HEADER_OP_COUNT, static_cast<uint32_t>(ops.size()));
  writer.PutU32(QK_HEADER_TENSOR_COUNT, static_cast<uint32_t>(tensors.size()));
  writer.PutU32(QK_HEADER_ARENA_BYTES, arena);
  writer.PutU32(QK_HEADER_INPUT_TENSOR, input);
  writer.PutU32(QK_HEADER_OUTPUT_TENSOR, logits);
  writer.PutU32(QK_HEADER_INPUT_HEIGHT, shape.height);
  writer.PutU32(QK_HEADER_INPUT_WIDTH, shape.width);
  writer.PutU32(QK_HEADER_INPUT_CHANNELS, shape.channels);
  writer.PutU32(QK_HEADER_INPUT_ZERO_POINT, static_cast<uint32_t>(tensors[input].zero_point));
  writer.PutU32(QK_HEADER_INPUT_SCALE_BITS, FloatBits(tensors[input].scale));
  writer.PutU32(QK_HEADER_OUTPUT_COUNT, shape.classes);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const size_t at = tensor_table + t * QK_TENSOR_RECORD_BYTES;
    writer.PutU32(at + QK_TENSOR_HEIGHT, tensors[t].h);
    writer.PutU32(at + QK_TENSOR_WIDTH, tensors[t].w);
    writer.PutU32(at + QK_TENSOR_CHANNELS, tensors[t].c);
    writer.PutU32(at + QK_TENSOR_ZERO_POINT, static_cast<uint32_t>(tensors[t].zero_point));
    writer.PutU32(at + QK_TENSOR_SCALE_BITS, FloatBits(tensors[t].scale));
    writer.PutU32(at + QK_TENSOR_ARENA_OFFSET, tensors[t].arena_offset);
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    const size_t at = op_table + i * QK_OP_RECORD_BYTES;
    writer.PutU32(at + QK_OP_KIND, op.kind);
    writer.PutU32(at + QK_OP_INPUT, op.input);
    writer.PutU32(at + QK_OP_INPUT2, QK_NO_TENSOR);
    writer.PutU32(at + QK_OP_OUTPUT, op.output);
    writer.PutU32(at + QK_OP_KERNEL_H, op.kernel);
    writer.PutU32(at + QK_OP_KERNEL_W, op.kernel);
    writer.PutU32(at + QK_OP_STRIDE, op.stride);
    writer.PutU32(at + QK_OP_PADDING, op.padding);
    writer.PutU32(at + QK_OP_WEIGHT_BITS, op.channels > 0 ? 8u : 0u);
    writer.PutU32(at + QK_OP_ACT_MIN, static_cast<uint32_t>(op.act_min));
    writer.PutU32(at + QK_OP_ACT_MAX, static_cast<uint32_t>(op.act_max));
    writer.PutU32(at + QK_OP_CHANNEL_COUNT, op.channels);
    if (op.channels == 0) continue;
    writer.Align4();
    writer.PutU32(at + QK_OP_WEIGHTS_OFFSET, static_cast<uint32_t>(writer.bytes.size()));
    writer.PutU32(at + QK_OP_WEIGHTS_BYTES, op.channels * op.row_bytes);
    for (uint32_t k = 0; k < op.channels * op.row_bytes; ++k) {
      writer.bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(uniform(-127, 127))));
    }
    writer.Align4();
    writer.PutU32(at + QK_OP_BIAS_OFFSET, static_cast<uint32_t>(writer.bytes.size()));
    for (uint32_t c = 0; c < op.channels; ++c) writer.U32(static_cast<uint32_t>(uniform(-2000, 2000)));
    writer.PutU32(at + QK_OP_MULTIPLIER_OFFSET, static_cast<uint32_t>(writer.bytes.size()));
    for (uint32_t c = 0; c < op.channels; ++c) writer.U32(static_cast<uint32_t>(uniform(1 << 30, 0x7FFFFFFF)));
    writer.PutU32(at + QK_OP_SHIFT_OFFSET, static_cast<uint32_t>(writer.bytes.size()));
    for (uint32_t c = 0; c < op.channels; ++c) writer.U32(static_cast<uint32_t>(op.shift));
  }
  writer.PutU32(QK_HEADER_TOTAL_BYTES, static_cast<uint32_t>(writer.bytes.size()));
  writer.PutU32(QK_HEADER_CRC32, qk_crc32(0, writer.bytes.data() + QK_CRC_START,
                                          static_cast<uint32_t>(writer.bytes.size() - QK_CRC_START)));
  return writer.bytes;
}

std::vector<uint8_t> RandomBytes(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<uint8_t> bytes(count);
  for (auto& byte : bytes) byte = static_cast<uint8_t>(random());
  return bytes;
}

// What the host kernels compute for `model` on `input`: the reference the
// board must match bit for bit.
std::vector<int8_t> HostInference(const std::vector<uint8_t>& model_bytes, const std::vector<uint8_t>& input) {
  std::vector<uint32_t> aligned((model_bytes.size() + 3) / 4);
  std::memcpy(aligned.data(), model_bytes.data(), model_bytes.size());
  qk_model model;
  EXPECT_EQ(qk_model_open(&model, reinterpret_cast<const uint8_t*>(aligned.data()),
                          static_cast<uint32_t>(model_bytes.size())),
            QK_OK);
  std::vector<uint32_t> arena((model.arena_bytes + 3) / 4 + 1);
  std::vector<int8_t> output(model.output_bytes);
  EXPECT_EQ(qk_model_invoke(&model, reinterpret_cast<const int8_t*>(input.data()), output.data(),
                            reinterpret_cast<uint8_t*>(arena.data()), static_cast<uint32_t>(arena.size() * 4), nullptr,
                            nullptr),
            QK_OK);
  return output;
}

std::string Hex32(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

uint32_t Crc(const std::vector<uint8_t>& bytes) {
  return qk_crc32(0, bytes.data(), static_cast<uint32_t>(bytes.size()));
}

// The value after "<prefix>" in the first line that starts with it.
std::optional<std::string> ValueAfter(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& line : lines) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return std::nullopt;
}

uint64_t NumberAfter(const std::vector<std::string>& lines, const std::string& prefix) {
  auto value = ValueAfter(lines, prefix);
  EXPECT_TRUE(value.has_value()) << "no line starting with " << prefix;
  return value ? std::stoull(*value) : 0;
}

std::vector<int> ParseIntList(const std::string& bracketed) {
  std::vector<int> values;
  std::string inner = bracketed.substr(1, bracketed.size() - 2);
  size_t start = 0;
  while (start < inner.size()) {
    size_t comma = inner.find(',', start);
    if (comma == std::string::npos) comma = inner.size();
    values.push_back(std::stoi(inner.substr(start, comma - start)));
    start = comma + 1;
  }
  return values;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// softmax(scale * (q - zero_point)) in double precision.
std::vector<double> SoftmaxOfLogits(const std::vector<int8_t>& logits, double scale, int zero_point) {
  std::vector<double> values;
  double largest = -1e300;
  for (int8_t q : logits) largest = std::max(largest, scale * (q - zero_point));
  double sum = 0;
  for (int8_t q : logits) sum += std::exp(scale * (q - zero_point) - largest);
  for (int8_t q : logits) values.push_back(std::exp(scale * (q - zero_point) - largest) / sum);
  return values;
}

// `line` is "m-results-[p0,p1,...]" with each probability printed as the
// reference does ("0.ddd", truncated), within a thousandth of `expected`.
void ExpectProbabilities(const std::string& line, const std::vector<double>& expected) {
  const std::regex pattern(R"(^m-results-\[((?:[01]\.[0-9]{3},)*[01]\.[0-9]{3})\]$)");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(line, match, pattern)) << line;
  std::vector<double> printed;
  std::stringstream items(match[1].str());
  for (std::string item; std::getline(items, item, ',');) printed.push_back(std::stod(item));
  ASSERT_EQ(printed.size(), expected.size()) << line;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_GE(printed[i], expected[i] - 0.0011) << "class " << i << " in " << line;
    EXPECT_LE(printed[i], expected[i] + 0.0001) << "class " << i << " in " << line;
  }
}

// ---- Fixture ----------------------------------------------------------------

class FirmwareProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!QATLAB_FIRMWARE_BUILT) GTEST_SKIP() << "configured with QATLAB_BUILD_FIRMWARE=OFF";
  }

  // Boots `elf` and checks the MLPerf boot banner.
  void Boot(EmulatedBoard& board, const std::string& elf = QATLAB_FIRMWARE_MPS2_AN386,
            const std::string& machine = "mps2-an386") {
    const auto start = Clock::now();
    const std::string error = board.Start(elf, machine);
    ASSERT_EQ(error, "");
    auto banner = board.ReadReply(milliseconds(5000));
    boot_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    ASSERT_TRUE(banner.ready) << "no m-ready after boot; got:\n" << Joined(banner.lines);
    ASSERT_EQ(banner.lines.size(), 3u) << Joined(banner.lines);
    EXPECT_EQ(banner.lines[0], "m-timestamp-mode-performance");
    EXPECT_EQ(banner.lines[1].rfind("m-lap-us-", 0), 0u) << banner.lines[1];
    EXPECT_EQ(banner.lines[2], "m-init-done");
  }

  // Uploads `model` in chunks of `chunk_bytes` and returns qm-end's reply.
  EmulatedBoard::Reply Upload(EmulatedBoard& board, const std::vector<uint8_t>& model, uint32_t chunk_bytes) {
    auto begin = board.Command("qm-begin " + std::to_string(model.size()) + " " + Hex32(Crc(model)) + " " +
                               std::to_string(chunk_bytes));
    const uint32_t chunks = static_cast<uint32_t>((model.size() + chunk_bytes - 1) / chunk_bytes);
    EXPECT_EQ(begin.lines, std::vector<std::string>{"m-qm-begin-chunks=" + std::to_string(chunks)});
    for (uint32_t seq = 0; seq < chunks; ++seq) {
      const size_t offset = size_t{seq} * chunk_bytes;
      std::vector<uint8_t> chunk(model.begin() + offset, model.begin() + std::min(model.size(), offset + chunk_bytes));
      board.Write("qm-chunk " + std::to_string(seq) + " " + std::to_string(chunk.size()) + " " + Hex32(Crc(chunk)) +
                  "%");
      board.Write(chunk);
      auto ack = board.ReadReply();
      EXPECT_TRUE(ack.ready);
      EXPECT_EQ(ack.lines, std::vector<std::string>{"m-qm-ack-" + std::to_string(seq)});
    }
    return board.Command("qm-end");
  }

  void SetInput(EmulatedBoard& board, const std::vector<uint8_t>& input) {
    board.Write("qm-input " + std::to_string(input.size()) + " " + Hex32(Crc(input)) + "%");
    board.Write(input);
    auto reply = board.ReadReply();
    EXPECT_TRUE(reply.ready);
    EXPECT_EQ(reply.lines, std::vector<std::string>{"m-qm-input-bytes=" + std::to_string(input.size())});
  }

  double boot_ms_ = 0;
};

using Lines = std::vector<std::string>;

// ---- MLPerf Tiny commands ---------------------------------------------------

TEST_F(FirmwareProtocolTest, BootsWithTheMlperfBannerWellUnderASecond) {
  EmulatedBoard board;
  Boot(board);
  RecordProperty("boot_ms", std::to_string(boot_ms_));
  EXPECT_LT(boot_ms_, 1000.0);
}

TEST_F(FirmwareProtocolTest, NameProfileTimestampAndHelpAnswer) {
  EmulatedBoard board;
  Boot(board);
  auto name = board.Command("name");
  EXPECT_TRUE(name.ready);
  EXPECT_EQ(name.lines, Lines{"m-name-dut-[qatlab-mps2-an386]"});

  auto profile = board.Command("profile");
  EXPECT_EQ(profile.lines, (Lines{"m-profile-[qatlab-fw 0.1.0]", "m-model-[none]"}));
  EXPECT_EQ(board.Command("qm-model-id ic01").lines, Lines{"m-qm-model-id=ic01"});
  EXPECT_EQ(board.Command("profile").lines, (Lines{"m-profile-[qatlab-fw 0.1.0]", "m-model-[ic01]"}));

  auto first = board.Command("timestamp");
  auto second = board.Command("timestamp");
  ASSERT_EQ(first.lines.size(), 1u);
  ASSERT_EQ(second.lines.size(), 1u);
  const uint64_t t0 = NumberAfter(first.lines, "m-lap-us-");
  const uint64_t t1 = NumberAfter(second.lines, "m-lap-us-");
  EXPECT_GT(t1, t0);

  auto help = board.Command("help");
  EXPECT_TRUE(help.ready);
  for (const char* command : {"name", "profile", "timestamp", "db load", "db print", "infer", "results", "qm-info",
                              "qm-raw", "qm-infer", "qm-layers", "qm-output"}) {
    EXPECT_TRUE(ValueAfter(help.lines, std::string("m-help-") + command).has_value()) << command;
  }
}

TEST_F(FirmwareProtocolTest, DbLoadZeroIsAnError) {
  EmulatedBoard board;
  Boot(board);
  auto reply = board.Command("db load 0");
  EXPECT_TRUE(reply.ready);
  EXPECT_EQ(reply.lines, Lines{"e-[Command 'db load' must be >0 bytes]"});
}

TEST_F(FirmwareProtocolTest, DbLoadHexLinesThenPrintShowsTheBytes) {
  EmulatedBoard board;
  Boot(board);
  const std::vector<uint8_t> data = RandomBytes(40, 7);
  EXPECT_EQ(board.Command("db load 40").lines, Lines{"m-[Expecting 40 bytes]"});
  // As the runner does: 31 bytes (62 hex digits) per line.
  std::string first = "db ", second = "db ";
  char pair[3];
  for (size_t i = 0; i < data.size(); ++i) {
    std::snprintf(pair, sizeof pair, "%02X", data[i]);  // upper case on the way in
    (i < 31 ? first : second) += pair;
  }
  auto partial = board.Command(first);
  EXPECT_TRUE(partial.ready);
  EXPECT_TRUE(partial.lines.empty()) << Joined(partial.lines);
  EXPECT_EQ(board.Command(second).lines, Lines{"m-load-done"});

  auto print = board.Command("db print");
  Lines expected;
  for (size_t row = 0; row < data.size(); row += 16) {
    std::string line = "m-buffer-";
    for (size_t i = row; i < std::min(data.size(), row + 16); ++i) {
      std::snprintf(pair, sizeof pair, "%02x", data[i]);
      if (i != row) line += '-';
      line += pair;
    }
    expected.push_back(line);
  }
  EXPECT_EQ(print.lines, expected);
}

TEST_F(FirmwareProtocolTest, OddHexDigitsAreAnErrorAndStoreNothing) {
  EmulatedBoard board;
  Boot(board);
  board.Command("db load 2");
  EXPECT_EQ(board.Command("db abc").lines, Lines{"e-[Insufficent number of hex digits]"});
  EXPECT_EQ(board.Command("db 0g").lines, Lines{"e-[Invalid hex digit: g]"});
  EXPECT_TRUE(board.Command("db print").lines.empty());
  EXPECT_EQ(board.Command("db 0a0b").lines, Lines{"m-load-done"});
  EXPECT_EQ(board.Command("db print").lines, Lines{"m-buffer-0a-0b"});
  EXPECT_EQ(board.Command("db 01").lines, Lines{"e-[Command 'db' needs a 'db load' first]"});
}

TEST_F(FirmwareProtocolTest, UnknownCommandIsAnError) {
  EmulatedBoard board;
  Boot(board);
  auto reply = board.Command("fly me to the moon");
  EXPECT_TRUE(reply.ready);
  EXPECT_EQ(reply.lines, Lines{"e-[Unknown command: fly me to the moon]"});
  EXPECT_EQ(board.Command("qm-teleport").lines, Lines{"e-[Unknown command: qm-teleport]"});
  EXPECT_EQ(board.Command("name extra").lines, Lines{"e-[Unknown command: name extra]"});
}

TEST_F(FirmwareProtocolTest, InferAndResultsNeedAModel) {
  EmulatedBoard board;
  Boot(board);
  EXPECT_EQ(board.Command("infer 1 0").lines, Lines{"e-[No model loaded]"});
  EXPECT_EQ(board.Command("infer 0 0").lines, Lines{"e-[Command 'infer' needs N >= 1]"});
  EXPECT_EQ(board.Command("results").lines, Lines{"e-[No inference has run]"});
  EXPECT_EQ(board.Command("qm-layers").lines, Lines{"e-[No inference has run]"});
  EXPECT_EQ(board.Command("qm-output").lines, Lines{"e-[No model loaded]"});
}

// ---- Garbage on the line ------------------------------------------------------

// After garbage the host ends whatever command it left open with '%' and then
// asks "name%": everything before the name reply is error lines and
// m-ready, and the name reply itself is exact.
void ExpectErrorsThenName(EmulatedBoard& board) {
  board.Write("%name%");
  Lines before;
  std::optional<std::string> line;
  const auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline && (line = board.ReadLine(milliseconds(2000)))) {
    if (line->rfind("m-name-dut-", 0) == 0) break;
    before.push_back(*line);
  }
  ASSERT_TRUE(line.has_value()) << "no name reply; got:\n" << Joined(before);
  EXPECT_EQ(*line, "m-name-dut-[qatlab-mps2-an386]");
  EXPECT_EQ(board.ReadLine(milliseconds(2000)), "m-ready");
  size_t errors = 0;
  for (const auto& earlier : before) {
    EXPECT_TRUE(earlier == "m-ready" || (earlier.rfind("e-[", 0) == 0 && earlier.back() == ']')) << earlier;
    errors += earlier.rfind("e-[", 0) == 0;
  }
  EXPECT_GE(errors, 1u) << Joined(before);
  // And the board is back in step: the next command gets exactly its reply.
  EXPECT_EQ(board.Command("name").lines, Lines{"m-name-dut-[qatlab-mps2-an386]"});
}

TEST_F(FirmwareProtocolTest, RandomBytesGetErrorsAndNameStillAnswers) {
  EmulatedBoard board;
  Boot(board);
  board.Write(RandomBytes(300, 11));
  ExpectErrorsThenName(board);
}

TEST_F(FirmwareProtocolTest, OverlongCommandIsDiscardedWithAnError) {
  EmulatedBoard board;
  Boot(board);
  auto reply = board.Command("db " + std::string(200, 'a'));
  EXPECT_TRUE(reply.ready);
  EXPECT_EQ(reply.lines, Lines{"e-[Command buffer overflow: 203 characters, the limit is 80]"});
  // Exactly 80 characters still fits.
  EXPECT_EQ(board.Command(std::string(80, 'x')).lines, Lines{"e-[Unknown command: " + std::string(80, 'x') + "]"});
  EXPECT_EQ(board.Command("name").lines, Lines{"m-name-dut-[qatlab-mps2-an386]"});
}

TEST_F(FirmwareProtocolTest, StrayBinaryBlobThenResyncAndNameAnswers) {
  EmulatedBoard board;
  Boot(board);
  // A model sent without its command: full of '%', NULs and CR/LFs.
  board.Write(BuildTestModel(ModelShape{}, 3));
  ExpectErrorsThenName(board);
  EXPECT_EQ(board.Command("").lines, Lines{});  // a lone '%' only says m-ready
}

// ---- qatlab commands ------------------------------------------------------------

TEST_F(FirmwareProtocolTest, InfoDescribesTheBoard) {
  EmulatedBoard board;
  Boot(board);
  auto info = board.Command("qm-info");
  ASSERT_TRUE(info.ready);
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-board="), "mps2-an386");
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-core="), "cortex-m4");
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-clock_hz="), 25000000u);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-flash_bytes="), 4u << 20);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-ram_bytes="), 4u << 20);
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-kernels="), "cortex-m-dsp");
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-firmware="), "0.1.0");
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-protocol="), 1u);
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-cycle_counter="), "systick");
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-model_capacity="), 262144u);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-arena_capacity="), 131072u);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-input_capacity="), 28672u);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-chunk_max="), 4096u);
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-model="), "none");
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-clock_model="), "qemu-icount");
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-baud="), 115200u);
  EXPECT_EQ(ValueAfter(info.lines, "m-qm-info-input_convention="), "int8");
}

TEST_F(FirmwareProtocolTest, UploadedModelRunsBitExactWithTheHostKernels) {
  EmulatedBoard board;
  Boot(board);
  const ModelShape shape{.height = 8, .width = 8, .channels = 2, .conv_channels = 4, .hidden = 16};
  const std::vector<uint8_t> model = BuildTestModel(shape, 42);
  auto end = Upload(board, model, 512);
  ASSERT_TRUE(end.ready);
  EXPECT_EQ(ValueAfter(end.lines, "m-qm-model-input_bytes="), "128") << Joined(end.lines);
  EXPECT_EQ(ValueAfter(end.lines, "m-qm-model-output_bytes="), "10");
  EXPECT_EQ(ValueAfter(end.lines, "m-qm-model-ops="), "4");
  EXPECT_EQ(ValueAfter(board.Command("qm-info").lines, "m-qm-info-model="), "loaded");

  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<uint8_t> input = RandomBytes(128, seed);
    const std::vector<int8_t> expected = HostInference(model, input);
    SetInput(board, input);
    auto output = board.Command("qm-output");
    ASSERT_EQ(output.lines.size(), 3u) << Joined(output.lines);
    auto logits = ParseIntList(*ValueAfter(output.lines, "m-qm-output-"));
    EXPECT_EQ(logits, std::vector<int>(expected.begin(), expected.end())) << "input seed " << seed;
    EXPECT_EQ(NumberAfter(output.lines, "m-qm-argmax-"),
              qk_argmax_s8(expected.data(), static_cast<uint32_t>(expected.size())));
    EXPECT_GT(NumberAfter(output.lines, "m-qm-cycles-"), 0u);
  }

  // The same input through the MLPerf path: hex db lines, infer, results.
  const std::vector<uint8_t> input = RandomBytes(128, 9);
  const std::vector<int8_t> expected = HostInference(model, input);
  board.Command("db load 128");
  for (size_t start = 0; start < input.size(); start += 31) {
    std::string line = "db ";
    char pair[3];
    for (size_t i = start; i < std::min(input.size(), start + 31); ++i) {
      std::snprintf(pair, sizeof pair, "%02x", input[i]);
      line += pair;
    }
    board.Command(line);
  }
  auto infer = board.Command("infer 3 2");
  ASSERT_EQ(infer.lines.size(), 7u) << Joined(infer.lines);
  EXPECT_EQ(infer.lines[0], "m-warmup-start-2");
  EXPECT_EQ(infer.lines[1], "m-warmup-done");
  EXPECT_EQ(infer.lines[2], "m-infer-start-3");
  const uint64_t t0 = NumberAfter({infer.lines[3]}, "m-lap-us-");
  const uint64_t t1 = NumberAfter({infer.lines[4]}, "m-lap-us-");
  EXPECT_GT(t1, t0);
  EXPECT_EQ(infer.lines[5], "m-infer-done");
  // Scores are the softmax of the dequantized logits (0.125 * (q - 5)).
  const std::vector<double> probabilities = SoftmaxOfLogits(expected, 0.125, 5);
  ExpectProbabilities(infer.lines[6], probabilities);
  EXPECT_EQ(board.Command("results").lines, Lines{infer.lines[6]});
  // qm-logits: the same inference's int8 logits.
  auto logits = board.Command("qm-logits");
  ASSERT_EQ(logits.lines.size(), 1u) << Joined(logits.lines);
  EXPECT_EQ(ParseIntList(*ValueAfter(logits.lines, "m-qm-logits-")),
            std::vector<int>(expected.begin(), expected.end()));

  auto layers = board.Command("qm-layers");
  ASSERT_EQ(layers.lines.size(), 5u) << Joined(layers.lines);
  const char* kinds[] = {"-2-", "-4-", "-1-", "-1-"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(layers.lines[i].rfind("m-qm-layer-" + std::to_string(i) + kinds[i], 0), 0u) << layers.lines[i];
  }
}

TEST_F(FirmwareProtocolTest, ChunkErrorsLeaveTheUploadUsable) {
  EmulatedBoard board;
  Boot(board);
  const std::vector<uint8_t> model = BuildTestModel(ModelShape{}, 5);
  const uint32_t chunk_bytes = 256;
  const uint32_t chunks = static_cast<uint32_t>((model.size() + chunk_bytes - 1) / chunk_bytes);
  ASSERT_GE(chunks, 3u);
  // Even a chunk that will be refused has its payload read first.
  board.Write("qm-chunk 0 4 00000000%");
  board.Write("abcd");
  EXPECT_EQ(board.ReadReply().lines, Lines{"e-[qm-chunk 0: no upload in progress]"});
  EXPECT_EQ(board.Command("name").lines, Lines{"m-name-dut-[qatlab-mps2-an386]"});
  board.Command("qm-begin " + std::to_string(model.size()) + " " + Hex32(Crc(model)) + " " +
                std::to_string(chunk_bytes));
  auto chunk_of = [&](uint32_t seq) {
    return std::vector<uint8_t>(model.begin() + seq * chunk_bytes,
                                model.begin() + std::min<size_t>(model.size(), (seq + 1) * chunk_bytes));
  };
  auto send_chunk = [&](uint32_t seq, const std::vector<uint8_t>& bytes, uint32_t crc) {
    board.Write("qm-chunk " + std::to_string(seq) + " " + std::to_string(bytes.size()) + " " + Hex32(crc) + "%");
    board.Write(bytes);
    return board.ReadReply().lines;
  };
  // A corrupted byte: refused, then the resend is acknowledged.
  std::vector<uint8_t> corrupted = chunk_of(0);
  corrupted[17] ^= 0x40;
  EXPECT_EQ(send_chunk(0, corrupted, Crc(chunk_of(0))), Lines{"e-[qm-chunk 0: crc mismatch]"});
  EXPECT_EQ(send_chunk(0, chunk_of(0), Crc(chunk_of(0))), Lines{"m-qm-ack-0"});
  // Skipping ahead is refused; resending an acknowledged chunk is fine.
  EXPECT_EQ(send_chunk(2, chunk_of(2), Crc(chunk_of(2))), Lines{"e-[qm-chunk 2: out of order, expecting 1]"});
  EXPECT_EQ(send_chunk(0, chunk_of(0), Crc(chunk_of(0))), Lines{"m-qm-ack-0"});
  // A wrong length is refused.
  const std::vector<uint8_t> second = chunk_of(1);
  const std::vector<uint8_t> short_chunk(second.begin(), second.begin() + 100);
  EXPECT_EQ(send_chunk(1, short_chunk, Crc(short_chunk)), Lines{"e-[qm-chunk 1: length 100, expected 256]"});
  // qm-end before the last chunk.
  EXPECT_EQ(board.Command("qm-end").lines,
            Lines{"e-[qm-end: missing chunks, have 1 of " + std::to_string(chunks) + "]"});
  // The payload stops half way: a timeout error after the 500 ms gap.
  board.Write("qm-chunk 1 256 " + Hex32(Crc(chunk_of(1))) + "%");
  board.Write(chunk_of(1).data(), 100);
  const auto start = Clock::now();
  auto timeout = board.ReadReply(milliseconds(5000));
  const double waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  EXPECT_EQ(timeout.lines, Lines{"e-[qm-chunk 1: timeout after 100 of 256 bytes]"});
  EXPECT_GT(waited_ms, 300.0);
  EXPECT_LT(waited_ms, 3000.0);
  // A length beyond chunk_max is refused without reading a payload.
  EXPECT_EQ(board.Command("qm-chunk 1 5000 00000000").lines, Lines{"e-[qm-chunk: length 5000 exceeds chunk_max 4096]"});
  // Then the rest goes through and the model opens.
  for (uint32_t seq = 1; seq < chunks; ++seq) {
    EXPECT_EQ(send_chunk(seq, chunk_of(seq), Crc(chunk_of(seq))), Lines{"m-qm-ack-" + std::to_string(seq)});
  }
  auto end = board.Command("qm-end");
  EXPECT_EQ(ValueAfter(end.lines, "m-qm-model-ops="), "3") << Joined(end.lines);
  EXPECT_EQ(board.Command("name").lines, Lines{"m-name-dut-[qatlab-mps2-an386]"});
}

TEST_F(FirmwareProtocolTest, UploadErrorsNameWhatIsWrong) {
  EmulatedBoard board;
  Boot(board);
  EXPECT_EQ(board.Command("qm-begin 300000 12345678 4096").lines,
            Lines{"e-[qm-begin: model of 300000 bytes exceeds the buffer of 262144 bytes]"});
  EXPECT_EQ(board.Command("qm-begin 1000 12345678 8192").lines, Lines{"e-[qm-begin: chunk size must be 1..4096]"});
  EXPECT_EQ(board.Command("qm-end").lines, Lines{"e-[qm-end: no upload in progress]"});

  // The whole-model CRC announced at begin does not match the chunks.
  const std::vector<uint8_t> model = BuildTestModel(ModelShape{}, 8);
  board.Command("qm-begin " + std::to_string(model.size()) + " deadbeef 4096");
  board.Write("qm-chunk 0 " + std::to_string(model.size()) + " " + Hex32(Crc(model)) + "%");
  board.Write(model);
  EXPECT_EQ(board.ReadReply().lines, Lines{"m-qm-ack-0"});
  EXPECT_EQ(board.Command("qm-end").lines, Lines{"e-[qm-end: crc " + Hex32(Crc(model)) + ", expected deadbeef]"});

  // A model whose arena does not fit the board.
  ModelShape big_arena;
  big_arena.arena_gap = 140000;
  const std::vector<uint8_t> greedy = BuildTestModel(big_arena, 8);
  qk_model opened;
  std::vector<uint32_t> aligned((greedy.size() + 3) / 4);
  std::memcpy(aligned.data(), greedy.data(), greedy.size());
  ASSERT_EQ(
      qk_model_open(&opened, reinterpret_cast<const uint8_t*>(aligned.data()), static_cast<uint32_t>(greedy.size())),
      QK_OK);
  auto end = Upload(board, greedy, 4096);
  EXPECT_EQ(end.lines, Lines{"e-[qm-end: model needs " + std::to_string(opened.arena_bytes) +
                             " bytes of arena, board has 131072]"});

  // A file that is not a model at all.
  const std::vector<uint8_t> noise = RandomBytes(600, 4);
  EXPECT_EQ(Upload(board, noise, 4096).lines, Lines{"e-[qm-end: qk_model_open failed: bad magic]"});
  EXPECT_EQ(board.Command("infer 1 0").lines, Lines{"e-[No model loaded]"});
}

// ---- The MLCommons runner, byte for byte ---------------------------------------

// What the MLCommons Tiny host runner (benchmark/runner: device_under_test.py,
// serial_device.py, script.py) sends and how it reads the replies,
// reconstructed from its public source: a command is its text and '%'; a
// reply is every line up to and including the first that contains "m-ready"
// (it reads each line within 5 s); `load` is "db load N" and then "db" with
// 31 bytes as lower-case hex per command; an inference's scores are the
// floats of "m-results-[...]" and its times the first and second
// "m-lap-us-N"; accuracy divides each score vector by its sum and takes the
// largest entry; throughput is N / elapsed seconds.
class RunnerDut {
 public:
  explicit RunnerDut(EmulatedBoard& board) : board_(board) {}

  Lines SendCommand(const std::string& command) {
    Lines lines;
    if (!board_.Write(command + "%")) {
      ADD_FAILURE() << "cannot write " << command;
      return lines;
    }
    for (;;) {
      std::optional<std::string> line = board_.ReadLine(milliseconds(5000));
      if (!line) {
        ADD_FAILURE() << "No response to command " << command << "; got:\n" << Joined(lines);
        return lines;
      }
      lines.push_back(*line);
      if (line->find("m-ready") != std::string::npos) return lines;
    }
  }

  std::optional<std::string> Name() {
    return Bracketed(SendCommand("name"), std::regex(R"(^m-(name)-dut-\[([^\]]+)]$)"));
  }
  std::optional<std::string> Model() {
    return Bracketed(SendCommand("profile"), std::regex(R"(^m-(model)-\[([^\]]+)]$)"));
  }

  void Load(const std::vector<uint8_t>& data) {
    SendCommand("db load " + std::to_string(data.size()));
    for (size_t i = 0; i < data.size(); i += 31) {
      std::string command = "db ";
      char pair[3];
      for (size_t j = i; j < std::min(data.size(), i + 31); ++j) {
        std::snprintf(pair, sizeof pair, "%02x", data[j]);
        command += pair;
      }
      SendCommand(command);
    }
  }

  struct InferResult {
    std::optional<std::vector<double>> results;
    std::optional<uint64_t> start_us, end_us;
    Lines lines;
  };
  InferResult Infer(int iterations, int warmups) {
    InferResult result;
    result.lines = SendCommand("infer " + std::to_string(iterations) + " " + std::to_string(warmups));
    const std::regex results_pattern(R"(^m-results-\[([^\]]+)\]$)");
    const std::regex lap_pattern(R"(^m-lap-us-([0-9]+)$)");
    for (const std::string& line : result.lines) {
      std::smatch match;
      if (std::regex_match(line, match, results_pattern)) {
        std::vector<double> values;
        std::stringstream items(match[1].str());
        for (std::string item; std::getline(items, item, ',');) values.push_back(std::stod(item));
        result.results = values;
      } else if (std::regex_match(line, match, lap_pattern)) {
        (result.start_us ? result.end_us : result.start_us) = std::stoull(match[1].str());
      }
    }
    return result;
  }

  // The runner's accuracy-mode class: the largest entry of scores / sum.
  static int TopOne(const std::vector<double>& scores) {
    double sum = 0;
    for (double score : scores) sum += score;
    int best = 0;
    for (size_t i = 1; i < scores.size(); ++i) {
      if (scores[i] / sum > scores[best] / sum) best = static_cast<int>(i);
    }
    return best;
  }

 private:
  static std::optional<std::string> Bracketed(const Lines& lines, const std::regex& pattern) {
    for (const std::string& line : lines) {
      std::smatch match;
      if (std::regex_match(line, match, pattern)) return match[2].str();
    }
    return std::nullopt;
  }

  EmulatedBoard& board_;
};

std::vector<uint8_t> FloatBytes(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());  // little-endian, as the runner's files
  return bytes;
}

// The reference's input quantization: round half away from zero, then the
// zero point, saturated.
std::vector<uint8_t> QuantizeInput(const std::vector<float>& values, float scale, int zero_point) {
  std::vector<uint8_t> tensor;
  for (float value : values) {
    const float scaled = value / scale;
    const int q = static_cast<int>(scaled + (scaled >= 0 ? 0.5f : -0.5f)) + zero_point;
    tensor.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::clamp(q, -128, 127))));
  }
  return tensor;
}

struct RunnerStyle {
  std::string model_id;
  ModelShape shape;
  int iterations, warmups;  // the runner's performance-mode `infer N W` for the benchmark
};

class RunnerCompatibilityTest : public FirmwareProtocolTest {
 protected:
  // The host's view of one input: the bytes the runner sends and the int8
  // tensor the reference firmware would make of them.
  struct Sample {
    std::vector<uint8_t> sent;
    std::vector<uint8_t> tensor;
    std::vector<float> features;  // float32 style only
  };

  Sample MakeSample(const std::string& model_id, const ModelShape& shape, uint32_t seed) {
    const size_t elements = size_t{shape.height} * shape.width * shape.channels;
    Sample sample;
    if (model_id == "ad01") {
      std::mt19937 random(seed);
      std::uniform_real_distribution<float> uniform(-1.5f, 1.5f);
      for (size_t i = 0; i < elements; ++i) sample.features.push_back(uniform(random));
      sample.sent = FloatBytes(sample.features);
      sample.tensor = QuantizeInput(sample.features, 0.02f, -3);  // BuildTestModel's input tensor
    } else {
      sample.sent = RandomBytes(elements, seed);
      sample.tensor = sample.sent;
      if (model_id == "ic01") {
        for (uint8_t& byte : sample.tensor) byte = static_cast<uint8_t>(byte - 128);  // uint8 pixel - 128
      }
    }
    return sample;
  }

  // The runner's performance mode (five windows) and accuracy mode (`infer 1
  // 0` per input) against a board that holds `style`'s model.
  void DriveLikeTheRunner(const RunnerStyle& style) {
    EmulatedBoard board;
    Boot(board);
    const std::vector<uint8_t> model = BuildTestModel(style.shape, 31);
    ASSERT_TRUE(Upload(board, model, 4096).ready);
    ASSERT_EQ(board.Command("qm-model-id " + style.model_id).lines, Lines{"m-qm-model-id=" + style.model_id});

    RunnerDut dut(board);
    EXPECT_EQ(dut.Name(), "qatlab-mps2-an386");
    EXPECT_EQ(dut.Model(), style.model_id);
    const bool autoencoder = style.model_id == "ad01";

    // Performance: five windows on the first input.
    const Sample first = MakeSample(style.model_id, style.shape, 100);
    std::vector<double> throughputs;
    for (int window = 0; window < 5; ++window) {
      dut.Load(first.sent);
      RunnerDut::InferResult result = dut.Infer(style.iterations, style.warmups);
      ASSERT_TRUE(result.results.has_value()) << Joined(result.lines);
      ASSERT_TRUE(result.start_us && result.end_us) << Joined(result.lines);
      ASSERT_GT(*result.end_us, *result.start_us);
      throughputs.push_back(style.iterations / ((*result.end_us - *result.start_us) / 1e6));
    }
    std::sort(throughputs.begin(), throughputs.end());
    const double runner_us = 1e6 / throughputs[2];  // the median window's latency
    // The same inference timed by the board itself: cycles at 25 MHz.
    const uint64_t median_cycles = NumberAfter(board.Command("qm-infer 9").lines, "m-qm-infer-median=");
    const double board_us = median_cycles / 25.0;
    EXPECT_NEAR(runner_us, board_us, 0.03 * board_us + 3.0)
        << "runner " << runner_us << " us per inference, board " << board_us << " us";
    RecordProperty(style.model_id + "_runner_us", std::to_string(runner_us));

    // Accuracy: each input once, its class from the runner's arithmetic.
    for (uint32_t seed = 200; seed < 204; ++seed) {
      const Sample sample = MakeSample(style.model_id, style.shape, seed);
      const std::vector<int8_t> logits = HostInference(model, sample.tensor);
      dut.Load(sample.sent);
      RunnerDut::InferResult result = dut.Infer(1, 0);
      ASSERT_TRUE(result.results.has_value()) << Joined(result.lines);
      if (autoencoder) {
        // The reference's anomaly score: mean squared reconstruction error.
        double error = 0;
        for (size_t i = 0; i < logits.size(); ++i) {
          const double difference = 0.125 * (logits[i] - 5) - sample.features[i];
          error += difference * difference;
        }
        error /= static_cast<double>(logits.size());
        ASSERT_EQ(result.results->size(), 1u) << Joined(result.lines);
        EXPECT_NEAR((*result.results)[0], error, 0.0015) << "seed " << seed;
      } else {
        const std::string* line = nullptr;
        for (const std::string& reply : result.lines) {
          if (reply.rfind("m-results-", 0) == 0) line = &reply;
        }
        ASSERT_NE(line, nullptr);
        ExpectProbabilities(*line, SoftmaxOfLogits(logits, 0.125, 5));
        EXPECT_EQ(RunnerDut::TopOne(*result.results),
                  static_cast<int>(qk_argmax_s8(logits.data(), static_cast<uint32_t>(logits.size()))))
            << "seed " << seed << ": " << *line;
      }
      // qatlab's own view of the same inference: the int8 logits, unchanged.
      EXPECT_EQ(ParseIntList(*ValueAfter(board.Command("qm-logits").lines, "m-qm-logits-")),
                std::vector<int>(logits.begin(), logits.end()));
    }
  }
};

// ic01 and vww01: uint8 pixels, the model sees pixel - 128.
TEST_F(RunnerCompatibilityTest, ImageClassificationStyleUint8Input) {
  DriveLikeTheRunner(
      {"ic01", ModelShape{.height = 8, .width = 8, .channels = 3, .conv_channels = 4, .hidden = 16}, 20, 5});
}

// kws01: the features arrive as the int8 tensor itself.
TEST_F(RunnerCompatibilityTest, KeywordSpottingStyleInt8Input) {
  DriveLikeTheRunner(
      {"kws01", ModelShape{.height = 8, .width = 4, .channels = 1, .conv_channels = 4, .classes = 12}, 70, 10});
}

// ad01: float32 features quantized on the board; the score is the
// autoencoder's reconstruction error.
TEST_F(RunnerCompatibilityTest, AnomalyDetectionStyleFloat32Input) {
  DriveLikeTheRunner(
      {"ad01", ModelShape{.height = 4, .width = 4, .channels = 2, .conv_channels = 4, .classes = 32}, 1500, 10});
}

// The reference firmware notes a wrong-sized input in a line that is not an
// error and infers anyway, so the runner still finds its results.
TEST_F(RunnerCompatibilityTest, ShortOrLongInputStillGivesResults) {
  EmulatedBoard board;
  Boot(board);
  const std::vector<uint8_t> model = BuildTestModel(ModelShape{}, 13);  // 8x8x2 = 128 input bytes
  ASSERT_TRUE(Upload(board, model, 4096).ready);
  board.Command("qm-model-id kws01");
  RunnerDut dut(board);

  dut.Load(RandomBytes(100, 1));
  RunnerDut::InferResult short_input = dut.Infer(1, 0);
  EXPECT_TRUE(short_input.results.has_value()) << Joined(short_input.lines);
  EXPECT_NE(
      std::find(short_input.lines.begin(), short_input.lines.end(), "m-[Input db has 100 elements, expected 128]"),
      short_input.lines.end())
      << Joined(short_input.lines);
  for (const std::string& line : short_input.lines) EXPECT_NE(line.rfind("e-", 0), 0u) << line;

  // A long input: the model reads its first 128 bytes.
  const std::vector<uint8_t> long_input = RandomBytes(200, 2);
  dut.Load(long_input);
  RunnerDut::InferResult long_result = dut.Infer(1, 0);
  EXPECT_TRUE(long_result.results.has_value()) << Joined(long_result.lines);
  EXPECT_NE(
      std::find(long_result.lines.begin(), long_result.lines.end(), "m-[Input db has 200 elements, expected 128]"),
      long_result.lines.end())
      << Joined(long_result.lines);
  const std::vector<int8_t> expected =
      HostInference(model, std::vector<uint8_t>(long_input.begin(), long_input.begin() + 128));
  EXPECT_EQ(ParseIntList(*ValueAfter(board.Command("qm-logits").lines, "m-qm-logits-")),
            std::vector<int>(expected.begin(), expected.end()));

  // qatlab's own commands still refuse a wrong size: the agent must know.
  EXPECT_EQ(board.Command("qm-output").lines, Lines{"e-[Input has 200 bytes, the model needs 128]"});
}

// The runner sends start% and stop% only for streaming wake words; a board
// without that benchmark answers them as the reference does any unknown
// command, and stays in step.
TEST_F(RunnerCompatibilityTest, StartAndStopAreUnknownCommands) {
  EmulatedBoard board;
  Boot(board);
  RunnerDut dut(board);
  EXPECT_EQ(dut.SendCommand("stop"), (Lines{"e-[Unknown command: stop]", "m-ready"}));
  EXPECT_EQ(dut.SendCommand("start"), (Lines{"e-[Unknown command: start]", "m-ready"}));
  EXPECT_EQ(dut.Name(), "qatlab-mps2-an386");
}

// The model id implies the input convention; qm-input-convention sets it
// outright; qm-input always carries the int8 tensor, whatever the convention.
TEST_F(RunnerCompatibilityTest, InputConventionFollowsTheModelIdAndTheCommand) {
  EmulatedBoard board;
  Boot(board);
  const auto convention = [&] { return ValueAfter(board.Command("qm-info").lines, "m-qm-info-input_convention="); };
  EXPECT_EQ(convention(), "int8");
  board.Command("qm-model-id vww01");
  EXPECT_EQ(convention(), "uint8");
  board.Command("qm-model-id ad01");
  EXPECT_EQ(convention(), "float32");
  board.Command("qm-model-id my-own");
  EXPECT_EQ(convention(), "int8");
  EXPECT_EQ(board.Command("qm-input-convention uint8").lines, Lines{"m-qm-input-convention=uint8"});
  EXPECT_EQ(convention(), "uint8");
  EXPECT_EQ(board.Command("qm-input-convention float64").lines,
            Lines{"e-[qm-input-convention: usage: qm-input-convention int8|uint8|float32]"});

  const std::vector<uint8_t> model = BuildTestModel(ModelShape{}, 17);
  ASSERT_TRUE(Upload(board, model, 4096).ready);
  const std::vector<uint8_t> input = RandomBytes(128, 3);
  SetInput(board, input);
  const std::vector<int8_t> expected = HostInference(model, input);
  EXPECT_EQ(ParseIntList(*ValueAfter(board.Command("qm-output").lines, "m-qm-output-")),
            std::vector<int>(expected.begin(), expected.end()));
  // db print shows the bytes as loaded, also after an inference converted them.
  board.Command("db load 2");
  board.Command("db 00ff");
  board.Command("infer 1 0");
  EXPECT_EQ(board.Command("db print").lines, Lines{"m-buffer-00-ff"});

  // A conversion made for one model is not reused for the next: 192 pixels
  // run on the 128-byte model (its first 128 converted), then a 192-byte
  // model arrives and must see all 192 converted.
  const std::vector<uint8_t> pixels = RandomBytes(192, 4);
  RunnerDut dut(board);
  dut.Load(pixels);
  EXPECT_TRUE(dut.Infer(1, 0).results.has_value());
  const std::vector<uint8_t> wider = BuildTestModel(ModelShape{.channels = 3}, 18);  // 8x8x3 input
  ASSERT_TRUE(Upload(board, wider, 4096).ready);
  EXPECT_TRUE(dut.Infer(1, 0).results.has_value());
  std::vector<uint8_t> tensor = pixels;
  for (uint8_t& byte : tensor) byte = static_cast<uint8_t>(byte - 128);
  const std::vector<int8_t> wide_expected = HostInference(wider, tensor);
  EXPECT_EQ(ParseIntList(*ValueAfter(board.Command("qm-logits").lines, "m-qm-logits-")),
            std::vector<int>(wide_expected.begin(), wide_expected.end()));
}

// ---- Cycles -------------------------------------------------------------------

// Under -icount shift=0 cycles are SysTick ticks over virtual time, i.e. a
// count of executed instructions (40 per tick at the nominal 25 MHz). Where
// the first tick edge falls when a measurement starts depends on when the
// host's command arrived, but the firmware starts every inference at the
// same phase of the tick and keeps interrupts (a counter wrap's) out of it
// (docs/protocol.md, "Repeatability"): the counts are identical.
TEST_F(FirmwareProtocolTest, CycleCountsAreDeterministicAcrossBoots) {
  const ModelShape shape{.height = 8, .width = 8, .channels = 2, .conv_channels = 4, .hidden = 16};
  const std::vector<uint8_t> model = BuildTestModel(shape, 42);
  const std::vector<uint8_t> input = RandomBytes(128, 77);
  struct Run {
    uint64_t min = 0, median = 0, max = 0;
    std::vector<uint64_t> layers;
    std::string text;
  };
  std::vector<Run> runs;
  for (int boot = 0; boot < 2; ++boot) {
    EmulatedBoard board;
    Boot(board);
    ASSERT_TRUE(Upload(board, model, 4096).ready);
    SetInput(board, input);
    auto stats = board.Command("qm-infer 9");
    ASSERT_EQ(stats.lines.size(), 5u) << Joined(stats.lines);
    Run run;
    EXPECT_EQ(NumberAfter(stats.lines, "m-qm-infer-count="), 9u);
    run.min = NumberAfter(stats.lines, "m-qm-infer-min=");
    run.median = NumberAfter(stats.lines, "m-qm-infer-median=");
    run.max = NumberAfter(stats.lines, "m-qm-infer-max=");
    const uint64_t total = NumberAfter(stats.lines, "m-qm-infer-total=");
    EXPECT_GT(run.min, 0u);
    EXPECT_LE(run.min, run.median);
    EXPECT_LE(run.median, run.max);
    EXPECT_EQ(run.max, run.min) << "the same inference, repeated";
    EXPECT_GE(total, 9 * run.min);
    EXPECT_LE(total, 9 * run.max);
    Lines layers = board.Command("qm-layers").lines;
    ASSERT_EQ(layers.size(), 5u) << Joined(layers);
    for (int i = 0; i < 4; ++i) {
      run.layers.push_back(std::stoull(layers[i].substr(layers[i].rfind('-') + 1)));
    }
    run.text = Joined(stats.lines) + Joined(layers);
    runs.push_back(run);
  }
  EXPECT_EQ(runs[0].min, runs[1].min);
  EXPECT_EQ(runs[0].median, runs[1].median);
  EXPECT_EQ(runs[0].max, runs[1].max);
  EXPECT_EQ(runs[0].layers, runs[1].layers);
  if (::testing::Test::HasFailure()) {
    ADD_FAILURE() << "first boot:\n" << runs[0].text << "second boot:\n" << runs[1].text;
  }
  RecordProperty("cycles", runs[0].text);
}

TEST_F(FirmwareProtocolTest, ReferenceAndDspImagesAgreeBitExact) {
  const ModelShape shape{.height = 12, .width = 12, .channels = 3, .conv_channels = 8, .hidden = 32};
  const std::vector<uint8_t> model = BuildTestModel(shape, 99);
  const std::vector<uint8_t> input = RandomBytes(12 * 12 * 3, 5);
  const std::vector<int8_t> expected = HostInference(model, input);
  struct Image {
    const char* elf;
    const char* variant;
  };
  std::vector<uint64_t> medians;
  for (const Image& image :
       {Image{QATLAB_FIRMWARE_MPS2_AN386_REF, "reference"}, Image{QATLAB_FIRMWARE_MPS2_AN386, "cortex-m-dsp"}}) {
    EmulatedBoard board;
    Boot(board, image.elf);
    EXPECT_EQ(ValueAfter(board.Command("qm-info").lines, "m-qm-info-kernels="), image.variant);
    ASSERT_TRUE(Upload(board, model, 4096).ready);
    SetInput(board, input);
    auto output = board.Command("qm-output");
    ASSERT_TRUE(ValueAfter(output.lines, "m-qm-output-").has_value()) << Joined(output.lines);
    EXPECT_EQ(ParseIntList(*ValueAfter(output.lines, "m-qm-output-")),
              std::vector<int>(expected.begin(), expected.end()))
        << image.variant;
    medians.push_back(NumberAfter(board.Command("qm-infer 3").lines, "m-qm-infer-median="));
  }
  RecordProperty("reference_cycles", std::to_string(medians[0]));
  RecordProperty("dsp_cycles", std::to_string(medians[1]));
  std::printf("instruction-count model, median cycles: reference %llu, cortex-m-dsp %llu\n",
              static_cast<unsigned long long>(medians[0]), static_cast<unsigned long long>(medians[1]));
}

// ---- The other boards -----------------------------------------------------------------

TEST_F(FirmwareProtocolTest, Netduinoplus2BootsAndAnswersName) {
  EmulatedBoard board;
  Boot(board, QATLAB_FIRMWARE_NETDUINOPLUS2, "netduinoplus2");
  EXPECT_EQ(board.Command("name").lines, Lines{"m-name-dut-[qatlab-netduinoplus2]"});
  auto info = board.Command("qm-info");
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-clock_hz="), 168000000u);
  EXPECT_EQ(NumberAfter(info.lines, "m-qm-info-model_capacity="), 102400u);
  // The STM32 USART path also carries binary payloads.
  const std::vector<uint8_t> model = BuildTestModel(ModelShape{}, 12);
  auto end = Upload(board, model, 1024);
  EXPECT_EQ(ValueAfter(end.lines, "m-qm-model-ops="), "3") << Joined(end.lines);
  const std::vector<uint8_t> input = RandomBytes(128, 6);
  SetInput(board, input);
  const std::vector<int8_t> expected = HostInference(model, input);
  auto output = board.Command("qm-output");
  ASSERT_TRUE(ValueAfter(output.lines, "m-qm-output-").has_value()) << Joined(output.lines);
  EXPECT_EQ(ParseIntList(*ValueAfter(output.lines, "m-qm-output-")),
            std::vector<int>(expected.begin(), expected.end()));
}

// The Nucleo image cannot run here (no board, and QEMU has no STM32F411);
// this checks it linked for the part: an ARM ELF whose vector table, and so
// its loadable image, starts at the STM32 flash base 0x08000000.
TEST_F(FirmwareProtocolTest, NucleoImageLinksForTheStm32Flash) {
  std::ifstream elf(QATLAB_FIRMWARE_NUCLEO_F411RE, std::ios::binary);
  ASSERT_TRUE(elf.good()) << QATLAB_FIRMWARE_NUCLEO_F411RE;
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(elf)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 52u);
  auto u16 = [&](size_t at) { return static_cast<uint32_t>(bytes[at] | (bytes[at + 1] << 8)); };
  auto u32 = [&](size_t at) { return u16(at) | (u16(at + 2) << 16); };
  EXPECT_EQ(std::memcmp(bytes.data(),
                        "\x7f"
                        "ELF",
                        4),
            0);
  EXPECT_EQ(bytes[4], 1) << "32-bit ELF";
  EXPECT_EQ(u16(18), 40u) << "EM_ARM";
  const uint32_t program_headers = u32(28);
  const uint32_t header_size = u16(42);
  const uint32_t header_count = u16(44);
  uint32_t lowest_load = 0xFFFFFFFFu;
  for (uint32_t i = 0; i < header_count; ++i) {
    const size_t at = program_headers + size_t{i} * header_size;
    ASSERT_LE(at + 32, bytes.size());
    if (u32(at) == 1 && u32(at + 16) > 0) lowest_load = std::min(lowest_load, u32(at + 12));  // PT_LOAD p_paddr
  }
  EXPECT_EQ(lowest_load, 0x08000000u);
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(QATLAB_FIRMWARE_NUCLEO_F411RE).replace_extension(".bin")));
}

}  // namespace
