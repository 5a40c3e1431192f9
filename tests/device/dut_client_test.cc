// DutClient against the real firmware in QEMU: what the board says about
// itself, and that damage on the line (garbage, a half-sent payload, a
// flipped or lost byte in a model chunk) is detected and recovered from.
#include "device_agent/dut_client.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/integer_runner.h"
#include "engine/qmodel_writer.h"
#include "tests/device/emulated_board.h"
#include "tests/device/fault_injecting_serial_port.h"
#include "tests/device/seeded_models.h"

namespace qatlab {
namespace {

class DutClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
    QemuBoardOptions options;
    options.firmware_elf = QATLAB_FIRMWARE_MPS2_AN386;
    StatusOr<std::unique_ptr<QemuBoard>> board = QemuBoard::Start(options);
    ASSERT_TRUE(board.ok()) << board.status().ToString();
    board_ = std::move(board).value();
    faulty_ = std::make_unique<FaultInjectingSerialPort>(board_->serial());
  }

  // Connects through the fault-injecting wrapper, with small chunks so that
  // even a small model is several chunks.
  std::unique_ptr<DutClient> Connect(int64_t chunk_bytes = 1024) {
    DutClientOptions options;
    options.chunk_bytes = chunk_bytes;
    StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect(*faulty_, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  // The board's logits for `inputs` must equal the host kernels' bit for bit.
  void ExpectBitExact(DutClient& client, const std::vector<uint8_t>& qmodel,
                      const std::vector<std::vector<int8_t>>& inputs) {
    StatusOr<IntegerRunner> host = IntegerRunner::Open(qmodel);
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    for (const std::vector<int8_t>& input : inputs) {
      ASSERT_TRUE(client.SetInput(input).ok());
      StatusOr<InferenceOutput> device = client.Output();
      ASSERT_TRUE(device.ok()) << device.status().ToString();
      std::vector<int8_t> expected(device->logits.size());
      ASSERT_TRUE(host->Run(input.data(), expected.data()).ok());
      EXPECT_EQ(device->logits, expected);
    }
  }

  std::unique_ptr<QemuBoard> board_;
  std::unique_ptr<FaultInjectingSerialPort> faulty_;
};

std::vector<uint8_t> SmallCnn(uint32_t seed) {
  StatusOr<std::vector<uint8_t>> bytes = WriteQModel(SeededCnnModel(seed));
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

TEST_F(DutClientTest, ConnectReadsWhatTheBoardIs) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  const BoardInfo& info = client->board();
  EXPECT_EQ(info.name, "qatlab-mps2-an386");
  EXPECT_EQ(info.board, "mps2-an386");
  EXPECT_EQ(info.core, "cortex-m4");
  EXPECT_EQ(info.clock_hz, 25000000u);
  EXPECT_EQ(info.protocol_version, 1);
  EXPECT_EQ(info.kernel_variant, "cortex-m-dsp");
  EXPECT_EQ(info.cycle_counter, "systick");
  EXPECT_GT(info.model_capacity, 0);
  EXPECT_GT(info.arena_capacity, 0);
  EXPECT_GT(info.chunk_max, 0);
  EXPECT_FALSE(info.model_loaded);
}

TEST_F(DutClientTest, UploadedModelRunsBitExactWithTheHost) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  std::vector<uint8_t> qmodel = SmallCnn(1);
  UploadStats stats;
  StatusOr<LoadedModel> loaded = client->UploadModel(qmodel, &stats);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->input_bytes, 28 * 28);
  EXPECT_EQ(loaded->output_bytes, 10);
  EXPECT_EQ(loaded->ops, 5);
  EXPECT_EQ(stats.chunks, static_cast<int>((qmodel.size() + 1023) / 1024));
  EXPECT_EQ(stats.resent_chunks, 0);
  ExpectBitExact(*client, qmodel, SeededInputs(3, 28 * 28, 7));
}

TEST_F(DutClientTest, FlippedByteInAChunkIsResentNotAccepted) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  std::vector<uint8_t> qmodel = SmallCnn(2);
  ASSERT_GT(qmodel.size(), 3u * 1024);
  WriteFault flip;
  flip.kind = WriteFaultKind::kFlipByte;
  flip.min_write_bytes = 1024;  // only full chunks (command text + payload)
  flip.skip = 2;                // the third chunk
  flip.offset_from_end = 100;   // inside its payload
  faulty_->ArmWriteFault(flip);

  UploadStats stats;
  StatusOr<LoadedModel> loaded = client->UploadModel(qmodel, &stats);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(faulty_->faults_fired(), 1);
  EXPECT_EQ(stats.resent_chunks, 1);
  // The board checked the whole-model CRC in qm-end; the outputs prove it.
  ExpectBitExact(*client, qmodel, SeededInputs(2, 28 * 28, 8));
}

TEST_F(DutClientTest, DroppedBytesInAChunkAreResent) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  std::vector<uint8_t> qmodel = SmallCnn(3);
  WriteFault drop;
  drop.kind = WriteFaultKind::kDropBytes;
  drop.min_write_bytes = 1024;
  drop.skip = 1;
  drop.offset_from_end = 500;
  drop.count = 7;
  faulty_->ArmWriteFault(drop);

  UploadStats stats;
  StatusOr<LoadedModel> loaded = client->UploadModel(qmodel, &stats);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(faulty_->faults_fired(), 1);
  EXPECT_GE(stats.resent_chunks, 1);
  ExpectBitExact(*client, qmodel, SeededInputs(2, 28 * 28, 9));
}

TEST_F(DutClientTest, ChunkThatNeverGetsThroughFailsTheUpload) {
  DutClientOptions options;
  options.chunk_bytes = 1024;
  options.max_send_attempts = 3;
  StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect(*faulty_, options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  // Every attempt at the first chunk is damaged.
  for (int i = 0; i < 3; ++i) {
    WriteFault flip;
    flip.min_write_bytes = 1024;
    flip.offset_from_end = 10;
    faulty_->ArmWriteFault(flip);
  }
  StatusOr<LoadedModel> loaded = (*client)->UploadModel(SmallCnn(4));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("not acknowledged after 3 attempts"), std::string::npos)
      << loaded.status().ToString();
  EXPECT_NE(loaded.status().message().find("crc mismatch"), std::string::npos) << loaded.status().ToString();
  // Nothing half-loaded is left to run.
  StatusOr<BoardInfo> info = (*client)->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->model_loaded);
}

TEST_F(DutClientTest, GarbageOnTheLineLeavesTheBoardUsable) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  std::mt19937 random(11);
  std::vector<uint8_t> garbage(300);
  for (uint8_t& b : garbage) b = static_cast<uint8_t>(random());
  garbage.insert(garbage.end(), 200, 'x');  // and an over-long command
  garbage.push_back('%');
  faulty_->InjectGarbageBeforeNextWrite(garbage);

  // The garbage goes out ahead of the input; the acknowledged send resyncs
  // and resends as needed.
  std::vector<uint8_t> qmodel = SmallCnn(5);
  StatusOr<LoadedModel> loaded = client->UploadModel(qmodel);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(faulty_->faults_fired(), 1);
  ExpectBitExact(*client, qmodel, SeededInputs(1, 28 * 28, 10));

  faulty_->InjectGarbageBeforeNextWrite(garbage);
  ASSERT_TRUE(client->Resync().ok());
  StatusOr<BoardInfo> info = client->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->board, "mps2-an386");
}

TEST_F(DutClientTest, HandshakeRecoversFromAHalfSentPayload) {
  // A previous host died in the middle of a binary payload: the board is
  // still waiting for bytes when the next host connects.
  static const char kHalf[] = "qm-raw 5000%0123456789";
  ASSERT_TRUE(faulty_->Write({reinterpret_cast<const uint8_t*>(kHalf), sizeof(kHalf) - 1}).ok());
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(client->board().board, "mps2-an386");
}

TEST_F(DutClientTest, RawSinkMeasuresTheLink) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  StatusOr<LinkThroughput> raw = client->RawThroughput(4096);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(raw->bytes, 4096);
  // A pty into QEMU carries roughly 10–20 KB/s on an idle machine; on a
  // loaded one much less, so this only checks that a rate was measured.
  EXPECT_GT(raw->seconds, 0.0);
  EXPECT_NEAR(raw->bytes_per_second, raw->bytes / raw->seconds, 1e-6);
  // The blob was consumed exactly (the board counted 4096, checked by
  // RawThroughput): the next command is answered normally.
  StatusOr<BoardInfo> info = client->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
}

TEST_F(DutClientTest, MlperfInferAndResultsAgreeWithQmOutput) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->UploadModel(SmallCnn(6)).ok());
  std::vector<int8_t> input = SeededInputs(1, 28 * 28, 12)[0];
  ASSERT_TRUE(client->SetInput(input).ok());
  StatusOr<InferenceOutput> output = client->Output();
  ASSERT_TRUE(output.ok()) << output.status().ToString();

  StatusOr<MlperfWindow> window = client->MlperfInfer(3, 1);
  ASSERT_TRUE(window.ok()) << window.status().ToString();
  EXPECT_GE(window->end_us, window->start_us);
  ASSERT_EQ(window->results.size(), output->logits.size());
  // The firmware prints, as the MLPerf reference does, class probabilities:
  // the softmax of the dequantized logits s_out·(q − z_out), truncated to
  // three decimals (docs/protocol.md); the seeded models' output scale is 1/64.
  const IntegerTensor logits = SeededCnnModel(6).tensors.back();  // a copy: the model is a temporary
  double largest = -1e300, sum = 0;
  for (int8_t q : output->logits) largest = std::max(largest, double{logits.scale} * (q - logits.zero_point));
  for (int8_t q : output->logits) sum += std::exp(logits.scale * (q - logits.zero_point) - largest);
  for (size_t i = 0; i < output->logits.size(); ++i) {
    const double probability = std::exp(logits.scale * (output->logits[i] - logits.zero_point) - largest) / sum;
    EXPECT_GE(window->results[i], probability - 0.0011) << "class " << i;
    EXPECT_LE(window->results[i], probability + 0.0001) << "class " << i;
  }
  StatusOr<std::vector<float>> results = client->MlperfResults();
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_EQ(*results, window->results);
}

TEST_F(DutClientTest, BoardRefusalNamesTheCommandAndTheReason) {
  std::unique_ptr<DutClient> client = Connect();
  ASSERT_TRUE(client);
  StatusOr<InferenceOutput> output = client->Output();
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(output.status().message(), "qm-output: board replied e-[No model loaded]");
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  static const uint8_t kText[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(Crc32(kText), 0xCBF43926u);  // the CRC-32/ISO-HDLC check value
}

}  // namespace
}  // namespace qatlab
