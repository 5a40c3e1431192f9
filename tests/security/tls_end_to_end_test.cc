// The whole stack over TLS, with certificates made here by the openssl CLI:
// a self-signed CA, a server certificate for 127.0.0.1 and localhost, and a
// client certificate. Real processes on a free loopback port; every wait is
// bounded.
//
// 1. TLS with tokens and a local worker: the worker (which reaches the
//    server over its unix socket) runs a job that qatctl submitted over TLS;
//    qatctl lists it and the Python example runs one too. A client without
//    the CA, and a plaintext client, fail with a line that says so.
// 2. Mutual TLS: a remote worker and qatlab-agent present client
//    certificates and work; a qatctl without one is refused.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qatlab_firmware_paths.h"
#include "tests/client/running_service.h"
#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {
namespace {

using json = nlohmann::json;

using test_support::LoggedChild;
using test_support::RunCommand;
using test_support::WaitUntil;

// No QATLAB_* setting of the machine running the tests may leak in.
const std::map<std::string, std::string> kCleanEnvironment = {
    {"QATLAB_TOKEN", ""},          {"QATLAB_SERVER", ""},   {"QATLAB_TLS", ""},
    {"QATLAB_TLS_CA", ""},         {"QATLAB_TLS_CERT", ""}, {"QATLAB_TLS_KEY", ""},
    {"QATLAB_TLS_SERVER_NAME", ""}};

class TlsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = test_support::FreeLoopbackPort();
    address_ = "127.0.0.1:" + std::to_string(port_);
    MakeCertificates();
    WriteFile("tokens", "client c-secret\nworker w-secret\nadmin a-secret\n");
    ::chmod(Path("tokens").c_str(), 0600);
    WriteFile("client.token", "c-secret\n");
    WriteFile("worker.token", "w-secret\n");
    WriteFile("job.json", TinyJobJson("tls", 1, 1));
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  void WriteFile(const std::string& name, const std::string& text) const { std::ofstream(Path(name)) << text; }

  void OpenSsl(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), "openssl");
    CapturedRun run = RunCommand(arguments, 60s);
    ASSERT_EQ(run.exit_status, 0) << run.err;
  }

  // ca.pem (self-signed), server.pem for 127.0.0.1/localhost, client.pem;
  // each with its .key.
  void MakeCertificates() {
    const std::vector<std::string> kKey = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    auto with_key = [&](std::vector<std::string> head, std::vector<std::string> tail) {
      head.insert(head.end(), kKey.begin(), kKey.end());
      head.insert(head.end(), tail.begin(), tail.end());
      return head;
    };
    OpenSsl(with_key({"req", "-x509"},
                     {"-keyout", Path("ca.key"), "-out", Path("ca.pem"), "-days", "2", "-subj", "/CN=qatlab test CA"}));
    WriteFile("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    WriteFile("client.ext", "extendedKeyUsage=clientAuth\n");
    for (const std::string name : {"server", "client"}) {
      OpenSsl(with_key(
          {"req"}, {"-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj", "/CN=qatlab test " + name}));
      OpenSsl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path("ca.pem"), "-CAkey", Path("ca.key"),
               "-CAcreateserial", "-out", Path(name + ".pem"), "-days", "2", "-extfile", Path(name + ".ext")});
    }
  }

  void StartServer(std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        QatlabServerBinary(), "--listen",        address_,     "--data-dir",       Path("data"),
        "--token-file",       Path("tokens"),    "--tls-cert", Path("server.pem"), "--tls-key",
        Path("server.key"),   "--lease-seconds", "5",          "--worker-binary",  QatlabWorkerBinary()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto server = LoggedChild::Start(argv, Path("server.log"), kCleanEnvironment);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_TRUE(WaitUntil([&] { return !server_->Running() || test_support::LoopbackPortAccepts(port_); }, 15s,
                          "qatlab-server to listen"));
    ASSERT_TRUE(server_->Running()) << server_->Log();
  }

  // qatctl --server <address> <arguments...>
  CapturedRun Qatctl(std::vector<std::string> arguments, std::chrono::milliseconds timeout = 30s) {
    arguments.insert(arguments.begin(), {QatctlBinary(), "--server", address_});
    return RunCommand(arguments, timeout, kCleanEnvironment);
  }

  std::vector<std::string> ClientTls() const {
    return {"--tls-ca", Path("ca.pem"), "--token-file", Path("client.token")};
  }
  std::vector<std::string> ClientCertificate() const {
    return {"--tls-cert", Path("client.pem"), "--tls-key", Path("client.key")};
  }

  static std::map<std::string, std::string> PythonEnvironment() {
    std::map<std::string, std::string> environment = kCleanEnvironment;
    environment["PYTHONPATH"] = PythonStubsDir();
    return environment;
  }

  static std::vector<std::string> Join(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  std::string Logs() const {
    std::string logs = server_ ? "--- server ---\n" + server_->Log() : "";
    for (const auto& child : children_) logs += "\n--- " + child->log_path() + " ---\n" + child->Log();
    return logs;
  }

  test_support::TempDir dir_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<LoggedChild> server_;
  std::vector<std::unique_ptr<LoggedChild>> children_;
};

TEST_F(TlsEndToEnd, LocalWorkersRunAJobAndClientsNeedTheCa) {
  StartServer({"--local-workers", "1"});

  // Submitted and followed over TLS; run by the local worker.
  CapturedRun submitted = Qatctl(Join({"submit", Path("job.json"), "--watch"}, ClientTls()), 180s);
  ASSERT_EQ(submitted.exit_status, 0) << submitted.out << submitted.err << Logs();

  CapturedRun listed = Qatctl(Join({"ls", "--json"}, ClientTls()));
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  json jobs = json::parse(listed.out)["jobs"];
  ASSERT_EQ(jobs.size(), 1u) << listed.out;
  EXPECT_EQ(jobs[0]["state"], "SUCCEEDED") << listed.out;
  EXPECT_NE(server_->Log().find("local-workers.sock"), std::string::npos) << server_->Log();

  // The Python example, over TLS with the same CA and a client token.
  CapturedRun sweep = RunCommand({"/usr/bin/python3", SweepScript(),
                                  "--server",         address_,
                                  "--tls-ca",         Path("ca.pem"),
                                  "--token-file",     Path("client.token"),
                                  "--presets",        "mlp",
                                  "--bits",           "8",
                                  "--epochs",         "1",
                                  "--qat-epochs",     "1",
                                  "--train-limit",    "1000",
                                  "--test-limit",     "500",
                                  "--experiment",     "tls-sweep",
                                  "--timeout",        "120"},
                                 150s, PythonEnvironment());
  EXPECT_EQ(sweep.exit_status, 0) << sweep.out << sweep.err << Logs();

  // Without the CA (the system's roots do not know ours): refused, saying so.
  CapturedRun untrusted = Qatctl({"--tls", "--token-file", Path("client.token"), "ls"});
  EXPECT_NE(untrusted.exit_status, 0);
  // (gRPC itself may log the handshake failure first.)
  EXPECT_NE(untrusted.err.find("qatctl: error: UNAVAILABLE: cannot reach qatlab-server at " + address_),
            std::string::npos)
      << untrusted.err;
  EXPECT_NE(untrusted.err.find("TLS handshake failed"), std::string::npos) << untrusted.err;

  // Plaintext to the TLS port: refused, and the line says TLS may be why.
  CapturedRun plaintext = Qatctl({"--token-file", Path("client.token"), "ls"});
  EXPECT_NE(plaintext.exit_status, 0);
  EXPECT_NE(plaintext.err.find("qatctl: error: UNAVAILABLE: cannot reach qatlab-server at " + address_),
            std::string::npos)
      << plaintext.err;
  EXPECT_NE(plaintext.err.find("--tls-ca"), std::string::npos) << plaintext.err;

  // A client token is no worker's: a remote worker with it is refused at
  // its first lease and exits saying why.
  CapturedRun impostor = RunCommand({QatlabWorkerBinary(), "--server", address_, "--worker-id", "impostor", "--tls-ca",
                                     Path("ca.pem"), "--token-file", Path("client.token")},
                                    30s, kCleanEnvironment);
  EXPECT_NE(impostor.exit_status, 0);
  EXPECT_NE((impostor.out + impostor.err).find("permission denied: a client token may not call WorkerService"),
            std::string::npos)
      << impostor.out << impostor.err;
  EXPECT_EQ((impostor.out + impostor.err).find("unauthenticated"), std::string::npos) << impostor.out << impostor.err;

  // A worker token is no client's: qatctl with it is refused.
  CapturedRun as_worker = Qatctl({"--tls-ca", Path("ca.pem"), "--token-file", Path("worker.token"), "ls"});
  EXPECT_NE(as_worker.exit_status, 0);
  EXPECT_EQ(as_worker.err.rfind("qatctl: error: PERMISSION_DENIED: a worker token may not call ExperimentService", 0),
            0u)
      << as_worker.err;
}

TEST_F(TlsEndToEnd, MutualTlsRemoteWorkerAndAgent) {
  StartServer({"--local-workers", "0", "--tls-client-ca", Path("ca.pem")});

  // No client certificate: the handshake is refused.
  CapturedRun anonymous = Qatctl(Join({"ls"}, ClientTls()));
  EXPECT_NE(anonymous.exit_status, 0);
  EXPECT_NE(anonymous.err.find("qatctl: error: UNAVAILABLE"), std::string::npos) << anonymous.err;

  // A remote worker with a certificate and a worker token runs the job.
  auto worker = LoggedChild::Start(Join({QatlabWorkerBinary(), "--server", address_, "--worker-id", "remote-tls",
                                         "--tls-ca", Path("ca.pem"), "--token-file", Path("worker.token")},
                                        ClientCertificate()),
                                   Path("worker.log"), kCleanEnvironment);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  children_.push_back(std::move(*worker));
  CapturedRun submitted =
      Qatctl(Join(Join({"submit", Path("job.json"), "--watch"}, ClientTls()), ClientCertificate()), 180s);
  ASSERT_EQ(submitted.exit_status, 0) << submitted.out << submitted.err << Logs();
  CapturedRun listed = Qatctl(Join(Join({"ls", "--json"}, ClientTls()), ClientCertificate()));
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["jobs"][0]["state"], "SUCCEEDED") << listed.out;
  EXPECT_NE(server_->Log().find("leased by remote-tls"), std::string::npos) << Logs();

  // The agent registers its (emulated) board over mutual TLS.
  if (!std::filesystem::is_regular_file(QATLAB_FIRMWARE_MPS2_AN386)) {
    GTEST_SKIP() << "no firmware at " << QATLAB_FIRMWARE_MPS2_AN386 << " (QATLAB_BUILD_FIRMWARE=OFF?)";
  }
  auto agent = LoggedChild::Start(
      Join({QATLAB_AGENT_BINARY, "--server", address_, "--name", "tls-board", "--firmware", QATLAB_FIRMWARE_MPS2_AN386,
            "--tls-ca", Path("ca.pem"), "--token-file", Path("worker.token")},
           ClientCertificate()),
      Path("agent.log"), kCleanEnvironment);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  children_.push_back(std::move(*agent));
  std::string devices;
  EXPECT_TRUE(WaitUntil(
      [&] {
        CapturedRun run = Qatctl(Join(Join({"devices", "--json"}, ClientTls()), ClientCertificate()));
        devices = run.out;
        return run.exit_status == 0 && devices.find("tls-board") != std::string::npos;
      },
      60s, "the agent's board to register over mutual TLS"))
      << devices << Logs();
}

}  // namespace
}  // namespace qatlab::testing
