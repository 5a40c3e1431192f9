// TtySerialPort and FaultInjectingSerialPort on a real pseudo-terminal pair:
// the test holds the master end, the port under test opens the slave, just
// as the host opens the pty QEMU creates.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "device_agent/serial_port.h"
#include "tests/device/fault_injecting_serial_port.h"

namespace qatlab {
namespace {

using std::chrono::milliseconds;

class PtyPair : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master_, 0);
    ASSERT_EQ(::grantpt(master_), 0);
    ASSERT_EQ(::unlockpt(master_), 0);
    slave_path_ = ::ptsname(master_);
    StatusOr<std::unique_ptr<SerialPort>> port = OpenTtySerialPort(slave_path_);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = std::move(port).value();
  }
  void TearDown() override {
    if (master_ >= 0) ::close(master_);
  }

  // What the "board" (the master end) received, waiting up to 1 s for `n`
  // bytes: woken by each arrival (poll), not by a timer.
  std::string MasterReceive(size_t n) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(1000);
    ::fcntl(master_, F_SETFL, O_NONBLOCK);
    while (got.size() < n) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd readable{master_, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[256];
      ssize_t r = ::read(master_, buffer, sizeof(buffer));
      if (r > 0)
        got.append(buffer, static_cast<size_t>(r));
      else if (readable.revents & (POLLHUP | POLLERR))
        break;
    }
    return got;
  }

  void MasterSend(const std::string& text) {
    ASSERT_EQ(::write(master_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

  static std::span<const uint8_t> Bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }

  int master_ = -1;
  std::string slave_path_;
  std::unique_ptr<SerialPort> port_;
};

TEST_F(PtyPair, RawModeCarriesEveryByteUnchanged) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  ASSERT_TRUE(port_->Write(Bytes(all)).ok());
  // No CR/LF translation, no echo, no line discipline eating control bytes.
  EXPECT_EQ(MasterReceive(all.size()), all);

  MasterSend(all);
  std::string got;
  uint8_t buffer[512];
  for (int i = 0; i < 20 && got.size() < all.size(); ++i) {
    StatusOr<size_t> n = port_->Read(buffer, milliseconds(200));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    got.append(reinterpret_cast<char*>(buffer), *n);
  }
  EXPECT_EQ(got, all);
}

TEST_F(PtyPair, ReadReturnsNothingAfterItsTimeout) {
  uint8_t buffer[16];
  auto start = std::chrono::steady_clock::now();
  StatusOr<size_t> n = port_->Read(buffer, milliseconds(150));
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 0u);
  EXPECT_GE(waited, milliseconds(140));
  EXPECT_LT(waited, milliseconds(1000));
}

TEST_F(PtyPair, ClosedOtherEndIsUnavailable) {
  ::close(master_);
  master_ = -1;
  uint8_t buffer[16];
  StatusOr<size_t> n = port_->Read(buffer, milliseconds(500));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable) << n.status().ToString();
  Status written = port_->Write(Bytes("name%"));
  EXPECT_EQ(written.code(), StatusCode::kUnavailable) << written.ToString();
}

TEST_F(PtyPair, ClosedPortRefusesUse) {
  port_->Close();
  port_->Close();  // idempotent
  EXPECT_EQ(port_->Write(Bytes("x")).code(), StatusCode::kFailedPrecondition);
}

TEST(TtySerialPort, MissingDeviceIsNotFound) {
  StatusOr<std::unique_ptr<SerialPort>> port = OpenTtySerialPort("/dev/qatlab-no-such-tty");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kNotFound);
  EXPECT_NE(port.status().message().find("/dev/qatlab-no-such-tty"), std::string::npos);
}

TEST(TtySerialPort, UnsupportedBaudIsInvalid) {
  TtyOptions options;
  options.baud = 12345;
  StatusOr<std::unique_ptr<SerialPort>> port = OpenTtySerialPort("/dev/null", options);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PtyPair, FaultFlipsOneByteOfTheChosenWriteOnly) {
  FaultInjectingSerialPort faulty(*port_);
  WriteFault fault;
  fault.kind = WriteFaultKind::kFlipByte;
  fault.min_write_bytes = 10;  // skips the short write below
  fault.skip = 1;              // and the first long one
  fault.offset_from_end = 3;
  faulty.ArmWriteFault(fault);

  ASSERT_TRUE(faulty.Write(Bytes("abc")).ok());
  ASSERT_TRUE(faulty.Write(Bytes("0123456789")).ok());
  ASSERT_TRUE(faulty.Write(Bytes("ABCDEFGHIJ")).ok());
  ASSERT_TRUE(faulty.Write(Bytes("klmnopqrst")).ok());

  std::string expected = std::string("abc0123456789ABCDEFG") + static_cast<char>('H' ^ 0xFF) + "IJklmnopqrst";
  EXPECT_EQ(MasterReceive(expected.size()), expected);
  EXPECT_EQ(faulty.faults_fired(), 1);
  EXPECT_EQ(faulty.bytes_written(), 33);
}

TEST_F(PtyPair, FaultDropsBytesAndGarbageGoesFirst) {
  FaultInjectingSerialPort faulty(*port_);
  WriteFault drop;
  drop.kind = WriteFaultKind::kDropBytes;
  drop.offset_from_end = 4;
  drop.count = 2;
  faulty.ArmWriteFault(drop);
  faulty.InjectGarbageBeforeNextWrite({'#', '#'});

  ASSERT_TRUE(faulty.Write(Bytes("0123456789")).ok());
  EXPECT_EQ(MasterReceive(10), "##01234589");
  EXPECT_EQ(faulty.faults_fired(), 2);
}

}  // namespace
}  // namespace qatlab
