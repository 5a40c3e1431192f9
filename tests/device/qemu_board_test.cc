// QemuBoard: QEMU started halted, the pty found and opened, the guest
// resumed, the banner seen; and no emulator left behind, whatever happens.
#include "device_agent/qemu_board.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>

#include "tests/device/emulated_board.h"
#include "tests/support/wait_until.h"

namespace qatlab {
namespace {

using std::chrono::milliseconds;

// True once `pid` is neither running nor a zombie waiting to be reaped.
bool ProcessIsGone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

std::string ReadReply(SerialPort& port, const std::string& until) {
  std::string got;
  uint8_t buffer[256];
  for (int i = 0; i < 50 && got.find(until) == std::string::npos; ++i) {
    StatusOr<size_t> n = port.Read(buffer, milliseconds(100));
    if (!n.ok()) break;
    got.append(reinterpret_cast<char*>(buffer), *n);
  }
  return got;
}

// QEMU on the MPS2-AN386 test firmware with default options; callers first
// QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386).
StatusOr<std::unique_ptr<QemuBoard>> StartAn386Board() {
  QemuBoardOptions options;
  options.firmware_elf = QATLAB_FIRMWARE_MPS2_AN386;
  return QemuBoard::Start(options);
}

TEST(QemuBoard, BootsAndAnswersOnItsPty) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<std::unique_ptr<QemuBoard>> board = StartAn386Board();
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  EXPECT_TRUE((*board)->IsAlive());
  EXPECT_EQ((*board)->pty_path().rfind("/dev/pts/", 0), 0u) << (*board)->pty_path();
  EXPECT_EQ((*board)->timing_model(), "qemu icount shift=0, virtual (instruction-count model)");

  static const uint8_t kName[] = {'n', 'a', 'm', 'e', '%'};
  ASSERT_TRUE((*board)->serial().Write(kName).ok());
  std::string reply = ReadReply((*board)->serial(), "m-ready\r\n");
  EXPECT_EQ(reply, "m-name-dut-[qatlab-mps2-an386]\r\nm-ready\r\n");
}

TEST(QemuBoard, KillReapsTheEmulatorAndTheLinkReportsIt) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<std::unique_ptr<QemuBoard>> board = StartAn386Board();
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  pid_t pid = (*board)->pid();

  (*board)->Kill();
  EXPECT_FALSE((*board)->IsAlive());
  EXPECT_TRUE(ProcessIsGone(pid)) << "QEMU " << pid << " still exists (zombie?)";
  uint8_t buffer[16];
  StatusOr<size_t> n = (*board)->serial().Read(buffer, milliseconds(500));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable) << n.status().ToString();
  (*board)->Kill();  // idempotent
}

TEST(QemuBoard, DestructorLeavesNoProcess) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  pid_t pid = 0;
  {
    StatusOr<std::unique_ptr<QemuBoard>> board = StartAn386Board();
    ASSERT_TRUE(board.ok()) << board.status().ToString();
    pid = (*board)->pid();
  }
  EXPECT_TRUE(ProcessIsGone(pid));
}

TEST(QemuBoard, NoticesAnEmulatorKilledFromOutside) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<std::unique_ptr<QemuBoard>> board = StartAn386Board();
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  pid_t pid = (*board)->pid();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(test_support::WaitUntil([&] { return !(*board)->IsAlive(); }, milliseconds(10000),
                                      "the board to notice its emulator is gone"));
  EXPECT_TRUE(ProcessIsGone(pid));
}

TEST(QemuBoard, MissingFirmwareIsNotFound) {
  QemuBoardOptions options;
  options.firmware_elf = "/nonexistent/qatlab-fw.elf";
  StatusOr<std::unique_ptr<QemuBoard>> board = QemuBoard::Start(options);
  ASSERT_FALSE(board.ok());
  EXPECT_EQ(board.status().code(), StatusCode::kNotFound);
  EXPECT_NE(board.status().message().find("/nonexistent/qatlab-fw.elf"), std::string::npos);
}

TEST(QemuBoard, ImageThatIsNotFirmwareFailsWithQemusReason) {
  std::string path = ::testing::TempDir() + "/not-firmware.elf";
  std::ofstream(path) << "this is not an ELF file\n";
  QemuBoardOptions options;
  options.firmware_elf = path;
  options.start_timeout = milliseconds(5000);
  StatusOr<std::unique_ptr<QemuBoard>> board = QemuBoard::Start(options);
  ASSERT_FALSE(board.ok());
  EXPECT_EQ(board.status().code(), StatusCode::kUnavailable) << board.status().ToString();
  // The message carries the step and what QEMU itself printed.
  EXPECT_NE(board.status().message().find("QEMU said"), std::string::npos) << board.status().ToString();
}

TEST(QemuBoard, NetduinoPlus2Boots) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_NETDUINOPLUS2);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_NETDUINOPLUS2, BoardKind::kNetduinoPlus2);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  EXPECT_EQ(board->client->board().board, "netduinoplus2");
  EXPECT_EQ(board->client->board().clock_hz, 168000000u);
}

TEST(BoardKind, ParsesTheQemuMachineNames) {
  EXPECT_EQ(*ParseBoardKind("mps2-an386"), BoardKind::kMps2An386);
  EXPECT_EQ(*ParseBoardKind("netduinoplus2"), BoardKind::kNetduinoPlus2);
  EXPECT_EQ(ParseBoardKind("arduino").status().code(), StatusCode::kInvalidArgument);
  EXPECT_STREQ(BoardKindName(BoardKind::kNetduinoPlus2), "netduinoplus2");
}

}  // namespace
}  // namespace qatlab
