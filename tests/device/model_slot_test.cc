// The model slot (device_agent/firmware/model_slot.h): a host programs an
// uploaded model and its id into the board's slot; the board then runs it in
// place, answers profile% with the id from its next boot on (a guest reset
// under QEMU: the emulated slot is RAM, docs/protocol.md), and runs it
// bit-exact with the host's integer kernels. On netduinoplus2, whose flash
// QEMU maps as ROM, programming must fail with a clear reason and leave the
// uploaded model running.
#include <string>
#include <vector>

#include "engine/integer_runner.h"
#include "engine/qmodel_writer.h"
#include "tests/device/emulated_board.h"
#include "tests/device/seeded_models.h"

namespace qatlab {
namespace {

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

std::string ProfileText(DutClient& client) {
  StatusOr<DutClient::Reply> profile = client.Command("profile");
  if (!profile.ok()) return profile.status().ToString();
  return Joined(profile->lines) + profile->error;
}

// Logits of the board for `inputs` against the host's integer kernels.
void ExpectBitExact(DutClient& client, const std::vector<uint8_t>& qmodel, const std::vector<int8_t>& input) {
  StatusOr<IntegerRunner> host = IntegerRunner::Open(qmodel);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  ASSERT_TRUE(client.SetInput(input).ok());
  StatusOr<InferenceOutput> device = client.Output();
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  std::vector<int8_t> expected(10);
  ASSERT_TRUE(host->Run(input.data(), expected.data()).ok());
  EXPECT_EQ(device->logits, expected);
}

TEST(ModelSlot, ProgrammedModelRunsFromTheSlotAndAnswersProfileAfterReset) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_MPS2_AN386);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  DutClient& client = *board->client;
  ASSERT_GT(client.board().slot_bytes, 0);
  StatusOr<std::vector<uint8_t>> qmodel = WriteQModel(SeededDenseModel({784, 64, 10}, 3001));
  ASSERT_TRUE(qmodel.ok()) << qmodel.status().ToString();
  ASSERT_TRUE(client.UploadModel(*qmodel).ok());

  ASSERT_TRUE(client.SaveModelToSlot("kws01-slot").ok());
  EXPECT_EQ(client.board().model_source, "slot");
  EXPECT_EQ(client.board().model_crc, Crc32(*qmodel));
  EXPECT_NE(ProfileText(client).find("m-model-[kws01-slot]"), std::string::npos) << ProfileText(client);

  ASSERT_TRUE(client.ResetBoard().ok());
  const BoardInfo& after = client.board();
  EXPECT_TRUE(after.model_loaded);
  EXPECT_EQ(after.model_source, "slot");
  EXPECT_EQ(after.model_bytes, static_cast<int64_t>(qmodel->size()));
  EXPECT_EQ(after.model_crc, Crc32(*qmodel));
  EXPECT_NE(ProfileText(client).find("m-model-[kws01-slot]"), std::string::npos) << ProfileText(client);
  ExpectBitExact(client, *qmodel, SeededInputs(1, 784, 3002)[0]);

  // Erased, the slot gives nothing at the next boot.
  ASSERT_TRUE(client.EraseSlot().ok());
  EXPECT_FALSE(client.board().model_loaded);
  ASSERT_TRUE(client.ResetBoard().ok());
  EXPECT_FALSE(client.board().model_loaded);
  EXPECT_EQ(client.board().model_source, "none");
  EXPECT_NE(ProfileText(client).find("m-model-[none]"), std::string::npos) << ProfileText(client);
}

TEST(ModelSlot, NewUploadReplacesTheSlotModelForTheSessionOnly) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_MPS2_AN386);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  DutClient& client = *board->client;
  StatusOr<std::vector<uint8_t>> saved = WriteQModel(SeededDenseModel({64, 16, 10}, 3003));
  StatusOr<std::vector<uint8_t>> other = WriteQModel(SeededDenseModel({64, 32, 10}, 3004));
  ASSERT_TRUE(saved.ok() && other.ok());
  ASSERT_TRUE(client.UploadModel(*saved).ok());
  ASSERT_TRUE(client.SaveModelToSlot("saved").ok());

  ASSERT_TRUE(client.UploadModel(*other).ok());
  StatusOr<BoardInfo> uploaded = client.Info();
  ASSERT_TRUE(uploaded.ok()) << uploaded.status().ToString();
  EXPECT_EQ(uploaded->model_source, "upload");
  EXPECT_NE(ProfileText(client).find("m-model-[none]"), std::string::npos) << ProfileText(client);

  ASSERT_TRUE(client.ResetBoard().ok());
  EXPECT_EQ(client.board().model_source, "slot");
  EXPECT_EQ(client.board().model_crc, Crc32(*saved));
  EXPECT_NE(ProfileText(client).find("m-model-[saved]"), std::string::npos) << ProfileText(client);
  ExpectBitExact(client, *saved, SeededInputs(1, 64, 3005)[0]);
  ASSERT_TRUE(client.EraseSlot().ok());
}

TEST(ModelSlot, SaveWithoutAnUploadedModelOrWithABadIdIsRefused) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_MPS2_AN386);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  DutClient& client = *board->client;
  Status nothing = client.SaveModelToSlot("empty");
  EXPECT_EQ(nothing.code(), StatusCode::kFailedPrecondition) << nothing.ToString();
  EXPECT_NE(nothing.message().find("no uploaded model"), std::string::npos) << nothing.ToString();
  Status long_id = client.SaveModelToSlot("an-id-of-sixteen");
  EXPECT_EQ(long_id.code(), StatusCode::kInvalidArgument) << long_id.ToString();
  StatusOr<DutClient::Reply> usage = client.Command("qm-slot-save");
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  EXPECT_NE(usage->error.find("usage: qm-slot-save"), std::string::npos) << usage->error;
}

TEST(ModelSlot, RomFlashOfQemuNetduinoRefusesTheSlotAndKeepsTheUpload) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_NETDUINOPLUS2);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_NETDUINOPLUS2, BoardKind::kNetduinoPlus2);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  DutClient& client = *board->client;
  EXPECT_EQ(client.board().slot_bytes, 256 * 1024 - 64);
  StatusOr<std::vector<uint8_t>> qmodel = WriteQModel(SeededDenseModel({64, 16, 10}, 3006));
  ASSERT_TRUE(qmodel.ok()) << qmodel.status().ToString();
  ASSERT_TRUE(client.UploadModel(*qmodel).ok());
  // The STM32F4 sequence runs against QEMU's unimplemented flash interface:
  // nothing is written, and the read-back says so.
  Status saved = client.SaveModelToSlot("rom");
  EXPECT_EQ(saved.code(), StatusCode::kFailedPrecondition) << saved.ToString();
  EXPECT_NE(saved.message().find("does not read back"), std::string::npos) << saved.ToString();
  StatusOr<BoardInfo> info = client.Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->model_source, "upload");
  ExpectBitExact(client, *qmodel, SeededInputs(1, 64, 3007)[0]);
}

}  // namespace
}  // namespace qatlab
