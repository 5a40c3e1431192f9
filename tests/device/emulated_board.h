// Test fixture pieces shared by the board-host tests: where the firmware
// images are and how to boot one under QEMU and connect to it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "device_agent/dut_client.h"
#include "device_agent/qemu_board.h"
#include "qatlab_firmware_paths.h"

namespace qatlab {

// Skips the calling test when the build has no firmware
// (QATLAB_BUILD_FIRMWARE=OFF); fails it when the build should have one and
// it is missing.
#define QATLAB_REQUIRE_FIRMWARE(elf)                                                         \
  do {                                                                                       \
    if (!QATLAB_FIRMWARE_BUILT) GTEST_SKIP() << "configured with QATLAB_BUILD_FIRMWARE=OFF"; \
    ASSERT_TRUE(std::filesystem::exists(elf)) << "firmware image missing: " << (elf);        \
  } while (0)

// A booted board with a connected client.
struct EmulatedBoard {
  std::unique_ptr<QemuBoard> board;
  std::unique_ptr<DutClient> client;
};

inline StatusOr<EmulatedBoard> BootEmulatedBoard(const std::string& elf, BoardKind kind = BoardKind::kMps2An386,
                                                 const DutClientOptions& client_options = {}) {
  QemuBoardOptions options;
  options.kind = kind;
  options.firmware_elf = elf;
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<QemuBoard> board, QemuBoard::Start(options));
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<DutClient> client, DutClient::Connect(board->serial(), client_options));
  return EmulatedBoard{std::move(board), std::move(client)};
}

}  // namespace qatlab
