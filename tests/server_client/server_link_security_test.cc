// What every client program shares about security: reading a token file
// (a token alone or "ROLE TOKEN"), TLS settings from flags and environment,
// and the error line a failed TLS connection reads as.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>

#include "server_client/server_link.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

// Clears the TLS variables for the test's duration.
class CleanTlsEnvironment {
 public:
  CleanTlsEnvironment() {
    for (const char* name : kNames) ::unsetenv(name);
  }
  ~CleanTlsEnvironment() {
    for (const char* name : kNames) ::unsetenv(name);
  }

 private:
  static constexpr const char* kNames[] = {"QATLAB_TLS", "QATLAB_TLS_CA", "QATLAB_TLS_CERT", "QATLAB_TLS_KEY",
                                           "QATLAB_TLS_SERVER_NAME"};
};

class ServerLinkSecurityTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  test_support::TempDir dir_;
  CleanTlsEnvironment environment_;
};

TEST_F(ServerLinkSecurityTest, ATokenFileLineMayNameItsRole) {
  EXPECT_EQ(*ResolveToken(Write("bare", "t-1\n")), "t-1");
  EXPECT_EQ(*ResolveToken(Write("role", "# mine\n\nworker  w-1 \nclient c-1\n")), "w-1");
  EXPECT_FALSE(ResolveToken(Write("empty", "# none\n")).ok());
}

TEST_F(ServerLinkSecurityTest, PlaintextUnlessTlsIsAskedFor) {
  StatusOr<ChannelSecurity> plain = LoadChannelSecurity({});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls);

  TlsFlags system_roots;
  system_roots.tls = true;
  StatusOr<ChannelSecurity> tls = LoadChannelSecurity(system_roots);
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_TRUE(tls->root_certificates.empty());
}

TEST_F(ServerLinkSecurityTest, FilesComeFromFlagsOrTheEnvironment) {
  const std::string pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const std::string ca = Write("ca.pem", pem);
  ::setenv("QATLAB_TLS_CA", ca.c_str(), 1);
  ::setenv("QATLAB_TLS_SERVER_NAME", "qatlab.internal", 1);
  StatusOr<ChannelSecurity> from_environment = LoadChannelSecurity({});
  ASSERT_TRUE(from_environment.ok()) << from_environment.status().ToString();
  EXPECT_TRUE(from_environment->tls);
  EXPECT_EQ(from_environment->root_certificates, pem);
  EXPECT_EQ(from_environment->server_name, "qatlab.internal");

  TlsFlags flags;
  flags.ca_file = Write("other.pem", "not a certificate");
  StatusOr<ChannelSecurity> not_pem = LoadChannelSecurity(flags);  // the flag wins over the variable
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find("--tls-ca " + flags.ca_file + ": not a PEM file"), std::string::npos)
      << not_pem.status().message();
}

TEST_F(ServerLinkSecurityTest, AClientCertificateNeedsItsKey) {
  TlsFlags flags;
  flags.cert_file = Write("client.pem", "-----BEGIN CERTIFICATE-----\n");
  StatusOr<ChannelSecurity> security = LoadChannelSecurity(flags);
  ASSERT_FALSE(security.ok());
  EXPECT_NE(security.status().message().find("--tls-cert and --tls-key go together"), std::string::npos);
  flags.key_file = dir_.path() + "/missing.key";
  security = LoadChannelSecurity(flags);
  ASSERT_FALSE(security.ok());
  EXPECT_NE(security.status().message().find("--tls-key"), std::string::npos) << security.status().message();
}

TEST_F(ServerLinkSecurityTest, AFailedHandshakeReadsAsOne) {
  const std::string verify_failed =
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Ssl handshake failed: "
      "SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify failed";
  std::string line = DescribeRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE, verify_failed), "127.0.0.1:1");
  EXPECT_NE(line.find("the TLS handshake failed"), std::string::npos) << line;
  EXPECT_NE(line.find("--tls-ca"), std::string::npos) << line;

  const std::string hung_up =
      "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: "
      "Socket closed";
  line = DescribeRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE, hung_up), "127.0.0.1:1");
  EXPECT_NE(line.find("if the server serves TLS"), std::string::npos) << line;

  // A server that is not there at all gets no word about TLS.
  const std::string refused =
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
      "Failed to connect to remote host: Connection refused";
  line = DescribeRpcError(grpc::Status(grpc::StatusCode::UNAVAILABLE, refused), "127.0.0.1:1");
  EXPECT_EQ(line.find("TLS"), std::string::npos) << line;
}

}  // namespace
}  // namespace qatlab
