// Models in flash: a firmware image built with a .qmodel in flash
// (QATLAB_FW_EMBEDDED_MODEL, device_agent/firmware/CMakeLists.txt) has it
// loaded and named from boot, runs it bit-exact with the host's integer
// kernels, and measures it on a board image whose RAM (64 KiB) is smaller
// than the model (a 784-128-64-10 MLP, about 110 KB: the mlp preset's shape).
// The test builds that image itself from the firmware sources, as a user
// would, once for the suite.
#include <cstdio>
#include <fstream>
#include <memory>

#include "device_agent/measurement.h"
#include "engine/integer_runner.h"
#include "engine/qmodel_writer.h"
#include "qatlab_kernels/qmodel.h"
#include "tests/device/emulated_board.h"
#include "tests/device/seeded_models.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab {
namespace {

using std::chrono::seconds;
using test_support::RunCommand;
using test_support::TempDir;

constexpr char kModelId[] = "mlp-flash";

// What the suite builds once: the model and the image that carries it.
struct FlashImage {
  std::unique_ptr<TempDir> dir;
  std::vector<uint8_t> qmodel;
  std::string elf;
  std::string failure;  // why the build failed, or empty
};

FlashImage* g_image = nullptr;

std::string Describe(const std::vector<std::string>& argv, const CapturedRun& run) {
  std::string text;
  for (const std::string& arg : argv) text += arg + " ";
  return text + "\nexit " + std::to_string(run.exit_status) + "\nstdout:\n" + run.out + "\nstderr:\n" + run.err;
}

FlashImage BuildFlashImage() {
  FlashImage image;
  image.dir = std::make_unique<TempDir>();
  StatusOr<std::vector<uint8_t>> qmodel = WriteQModel(SeededDenseModel({784, 128, 64, 10}, 1001));
  if (!qmodel.ok()) {
    image.failure = qmodel.status().ToString();
    return image;
  }
  image.qmodel = *qmodel;
  const std::string model_path = image.dir->File("mlp.qmodel");
  std::ofstream(model_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.qmodel.data()), static_cast<std::streamsize>(image.qmodel.size()));
  const std::string build = image.dir->File("firmware");
  const std::vector<std::string> configure = {QATLAB_CMAKE_COMMAND,
                                              "-S",
                                              QATLAB_FIRMWARE_SOURCE_DIR,
                                              "-B",
                                              build,
                                              std::string("-DCMAKE_TOOLCHAIN_FILE=") + QATLAB_FIRMWARE_TOOLCHAIN,
                                              "-DQATLAB_FW_IMAGES=mps2-an386-64k",
                                              "-DQATLAB_FW_EMBEDDED_MODEL=" + model_path,
                                              std::string("-DQATLAB_FW_EMBEDDED_MODEL_ID=") + kModelId};
  CapturedRun run = RunCommand(configure, seconds(120));
  if (run.exit_status != 0) {
    image.failure = Describe(configure, run);
    return image;
  }
  const std::vector<std::string> make = {QATLAB_CMAKE_COMMAND, "--build", build, "-j2"};
  run = RunCommand(make, seconds(600));
  if (run.exit_status != 0) {
    image.failure = Describe(make, run);
    return image;
  }
  image.elf = build + "/mps2-an386-64k/qatlab-fw.elf";
  return image;
}

class FlashModel : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (QATLAB_FIRMWARE_BUILT) g_image = new FlashImage(BuildFlashImage());
  }
  static void TearDownTestSuite() {
    delete g_image;
    g_image = nullptr;
  }
  void SetUp() override {
    if (!QATLAB_FIRMWARE_BUILT) GTEST_SKIP() << "configured with QATLAB_BUILD_FIRMWARE=OFF";
    ASSERT_TRUE(g_image->failure.empty()) << g_image->failure;
  }
};

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

TEST_F(FlashModel, FreshBoardAnswersProfileWithTheModelIdAndRunsItBitExact) {
  // Bigger than the image's RAM and its upload buffer: only flash holds it.
  ASSERT_GE(g_image->qmodel.size(), 96u * 1024u);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(g_image->elf);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  const BoardInfo& info = board->client->board();
  EXPECT_EQ(info.ram_bytes, 64 * 1024);
  EXPECT_LT(info.ram_bytes, static_cast<int64_t>(g_image->qmodel.size()));
  EXPECT_LT(info.model_capacity, static_cast<int64_t>(g_image->qmodel.size()));
  EXPECT_TRUE(info.model_loaded);
  EXPECT_EQ(info.model_source, "flash");
  EXPECT_EQ(info.model_bytes, static_cast<int64_t>(g_image->qmodel.size()));
  EXPECT_EQ(info.model_crc, Crc32(g_image->qmodel));

  StatusOr<DutClient::Reply> profile = board->client->Command("profile");
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  EXPECT_EQ(profile->error, "");
  EXPECT_NE(Joined(profile->lines).find(std::string("m-model-[") + kModelId + "]"), std::string::npos)
      << Joined(profile->lines);

  StatusOr<IntegerRunner> host = IntegerRunner::Open(g_image->qmodel);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  for (const std::vector<int8_t>& input : SeededInputs(3, 784, 1002)) {
    ASSERT_TRUE(board->client->SetInput(input).ok());
    StatusOr<InferenceOutput> device = board->client->Output();
    ASSERT_TRUE(device.ok()) << device.status().ToString();
    std::vector<int8_t> expected(10);
    ASSERT_TRUE(host->Run(input.data(), expected.data()).ok());
    EXPECT_EQ(device->logits, expected);
  }
}

TEST_F(FlashModel, ModelLargerThanTheBoardRamMeasuresFromFlash) {
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(g_image->elf);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  StatusOr<IntegerRunner> host = IntegerRunner::Open(g_image->qmodel);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(4, 784, 1003);
  for (const std::vector<int8_t>& input : inputs.inputs) {
    std::vector<int8_t> logits(10);
    ASSERT_TRUE(host->Run(input.data(), logits.data()).ok());
    inputs.labels.push_back(static_cast<int>(qk_argmax_s8(logits.data(), 10)));
  }
  MeasurementOptions options;
  options.timing_model = board->board->timing_model();
  options.virtual_ns_per_instruction = board->board->virtual_ns_per_instruction();
  options.check_inputs = 4;
  options.accuracy_samples = 4;
  options.warmup = 1;
  options.windows = 2;
  options.inferences_per_window = 3;

  StatusOr<v1::MeasurementResult> result = MeasureModel(*board->client, g_image->qmodel, inputs, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->checked_inputs(), 4);
  EXPECT_EQ(result->bit_exact_inputs(), 4);
  EXPECT_DOUBLE_EQ(result->device_accuracy(), 100.0);
  EXPECT_EQ(result->flash_bytes(), static_cast<int64_t>(g_image->qmodel.size()));
  EXPECT_GT(result->median_cycles(), 0u);
  ASSERT_EQ(result->layers_size(), 3);
  // Nothing was uploaded: the board still runs its model from flash.
  StatusOr<BoardInfo> info = board->client->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->model_source, "flash");
  std::printf("%zu-byte model from flash on a %lld-byte-RAM image: median %llu cycles, %.1f us at %u Hz (%s)\n",
              g_image->qmodel.size(), static_cast<long long>(info->ram_bytes),
              static_cast<unsigned long long>(result->median_cycles()), result->median_us(), result->clock_hz(),
              result->timing_model().c_str());
}

TEST_F(FlashModel, UploadedModelReplacesTheFlashModelForTheSession) {
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(g_image->elf);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  StatusOr<std::vector<uint8_t>> small = WriteQModel(SeededDenseModel({64, 16, 10}, 1004));
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  ASSERT_TRUE(board->client->UploadModel(*small).ok());
  StatusOr<BoardInfo> info = board->client->Info();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->model_source, "upload");
  EXPECT_EQ(info->model_crc, Crc32(*small));
  StatusOr<DutClient::Reply> profile = board->client->Command("profile");
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  // The flash model's id no longer names what the board runs.
  EXPECT_NE(Joined(profile->lines).find("m-model-[none]"), std::string::npos) << Joined(profile->lines);

  StatusOr<IntegerRunner> host = IntegerRunner::Open(*small);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  const std::vector<int8_t> input = SeededInputs(1, 64, 1005)[0];
  ASSERT_TRUE(board->client->SetInput(input).ok());
  StatusOr<InferenceOutput> device = board->client->Output();
  ASSERT_TRUE(device.ok()) << device.status().ToString();
  std::vector<int8_t> expected(10);
  ASSERT_TRUE(host->Run(input.data(), expected.data()).ok());
  EXPECT_EQ(device->logits, expected);
}

}  // namespace
}  // namespace qatlab
