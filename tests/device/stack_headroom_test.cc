// Stack headroom: the firmware paints its free RAM at reset and qm-info
// reports the deepest stack use since (stack_peak). After the heaviest
// layers (DSP conv2d, depthwise, dense) have run on each emulated image, the
// peak must leave a quarter of the 8 KiB the Nucleo and Netduino linker
// scripts reserve (STACK_BYTES): those are the images with the least stack.
#include <cstdio>

#include "engine/qmodel_writer.h"
#include "tests/device/emulated_board.h"
#include "tests/device/seeded_models.h"

namespace qatlab {
namespace {

// The smallest stack any image reserves (netduinoplus2.ld, nucleo_f411re.ld).
constexpr int64_t kReservedStack = 8 * 1024;

void RunEachModelAndCheckStack(const std::string& elf, BoardKind kind) {
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(elf, kind);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  StatusOr<BoardInfo> before = board->client->Info();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_GT(before->stack_bytes, 0) << "firmware reports no stack_bytes";
  ASSERT_GT(before->stack_peak, 0);
  struct Case {
    const char* name = "";
    IntegerModel model;
    int input_bytes = 0;
  };
  Case cases[] = {{"cnn", SeededCnnModel(61), 28 * 28},
                  {"ds-cnn", SeededDsCnnModel(64, 62), 49 * 10},
                  {"mlp", SeededDenseModel({784, 32, 10}, 63), 784}};
  int64_t peak = before->stack_peak;
  for (Case& c : cases) {
    StatusOr<std::vector<uint8_t>> qmodel = WriteQModel(c.model);
    ASSERT_TRUE(qmodel.ok()) << qmodel.status().ToString();
    ASSERT_TRUE(board->client->UploadModel(*qmodel).ok()) << c.name;
    ASSERT_TRUE(board->client->SetInput(SeededInputs(1, c.input_bytes, 64)[0]).ok()) << c.name;
    ASSERT_TRUE(board->client->Output().ok()) << c.name;
    StatusOr<BoardInfo> after = board->client->Info();
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    std::printf("%s (%s kernels): stack peak %lld bytes after %s (boot %lld); %lld bytes free for the stack\n",
                after->board.c_str(), after->kernel_variant.c_str(), static_cast<long long>(after->stack_peak), c.name,
                static_cast<long long>(before->stack_peak), static_cast<long long>(after->stack_bytes));
    EXPECT_GE(after->stack_peak, peak);
    peak = after->stack_peak;
  }
  EXPECT_LE(peak, kReservedStack * 3 / 4);
  EXPECT_LE(peak, before->stack_bytes);
}

TEST(StackHeadroom, Mps2An386DspImage) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  RunEachModelAndCheckStack(QATLAB_FIRMWARE_MPS2_AN386, BoardKind::kMps2An386);
}

TEST(StackHeadroom, Mps2An386ReferenceImage) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386_REF);
  RunEachModelAndCheckStack(QATLAB_FIRMWARE_MPS2_AN386_REF, BoardKind::kMps2An386);
}

// The Nucleo image runs the same protocol and kernel code with the same
// compiler flags (it differs in its UART and cycle counter, which run outside
// the inference); QEMU has no Nucleo machine, so the STM32F405 stands in.
TEST(StackHeadroom, Netduinoplus2Image) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_NETDUINOPLUS2);
  RunEachModelAndCheckStack(QATLAB_FIRMWARE_NETDUINOPLUS2, BoardKind::kNetduinoPlus2);
}

}  // namespace
}  // namespace qatlab
