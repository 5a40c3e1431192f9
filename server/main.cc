// qatlab-server: parses flags, starts QatlabServer, waits for SIGTERM/SIGINT.
#include <signal.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "process/stop_signal.h"
#include "server/rpc/auth.h"
#include "server/rpc/server.h"
#include "version/version.h"

namespace {

std::string DefaultDataDir() {
  if (const char* dir = std::getenv("QATLAB_DATA_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/qatlab";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.local/share/qatlab";
  }
  return ".qatlab";
}

}  // namespace

int main(int argc, char** argv) {
  using qatlab::server::ServerOptions;
  ServerOptions options;
  options.data_dir = DefaultDataDir();
  options.local_workers = 1;
  std::string token_file;
  double lease_seconds = 30;
  double measurement_queue_timeout_seconds = 24 * 3600;
  int64_t max_upload_mib = 256;
  std::string sync = "normal";
  std::string log_level = "info";
  int64_t max_spec_kib = options.limits.submission.max_spec_bytes >> 10;
  int64_t max_activation_mib = options.limits.submission.max_activation_bytes >> 20;

  CLI::App app{"qatlab-server: the job queue, result store and API of qatlab"};
  app.set_version_flag("--version", qatlab::VersionLine("qatlab-server"));
  app.add_option("--listen", options.listen, "address:port to serve on")->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "database and artifacts (default $QATLAB_DATA_DIR or "
                 "~/.local/share/qatlab)")
      ->capture_default_str();
  app.add_option("--local-workers", options.local_workers, "qatlab-worker processes to run and supervise")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  app.add_option("--worker-binary", options.worker_binary, "the qatlab-worker to run (default: next to this binary)");
  app.add_option("--data-cache", options.worker_data_cache,
                 "the local workers' data cache (default $QATLAB_DATA_CACHE, else <data-dir>/cache)");
  app.add_option("--token-file", token_file,
                 "require 'authorization: Bearer <token>': one 'ROLE TOKEN' a line, ROLE client, worker or admin "
                 "(a token alone is a client's)");
  app.add_option("--max-client-priority", options.max_client_priority,
                 "the highest job priority a client token may ask for; above it needs an admin token")
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls_cert_file, "PEM certificate chain (with --tls-key: serve TLS)");
  app.add_option("--tls-key", options.tls_key_file, "PEM private key");
  app.add_option("--tls-client-ca", options.tls_client_ca_file,
                 "PEM CA certificates: require client certificates signed by them (mutual TLS)");
  app.add_option("--lease-seconds", lease_seconds, "lease length without heartbeats")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--measurement-queue-timeout", measurement_queue_timeout_seconds,
                 "seconds a measurement waits for an agent of its board kind to register before it fails; 0: forever")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 365.0 * 86400));
  app.add_option("--max-upload-mib", max_upload_mib, "largest accepted upload")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--max-lease-wait-ms", options.limits.max_lease_wait_ms, "cap on LeaseJob long polls")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  app.add_option("--max-spec-kib", max_spec_kib, "largest accepted job spec (serialized)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--max-layers", options.limits.submission.max_layers, "most layers a submitted model may have")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-model-parameters", options.limits.submission.max_parameters,
                 "most weights and biases a submitted model may have")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.add_option("--max-model-macs", options.limits.submission.max_macs,
                 "most multiply-accumulates of one inference of a submitted model")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.add_option("--max-activation-mib", max_activation_mib,
                 "most float activation memory of one training batch of a submitted model")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  app.add_option("--sync", sync,
                 "SQLite synchronous level: normal (survives process crashes) or full (also "
                 "power loss)")
      ->capture_default_str()
      ->check(CLI::IsMember({"normal", "full"}));
  app.add_option("--metrics-listen", options.metrics_listen,
                 "host:port to serve Prometheus metrics on, unauthenticated (e.g. 127.0.0.1:9464; default: off)");
  // Any case; anything else is a usage error (spdlog's from_str reads an
  // unknown name as "off", which silently ended all logging).
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->transform(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}, CLI::ignore_case));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  // Local workers keep MNIST-10k beside the database unless told otherwise,
  // so a service account needs no home directory (docs/deploy.md).
  if (const char* cache = std::getenv("QATLAB_DATA_CACHE");
      options.worker_data_cache.empty() && (cache == nullptr || *cache == '\0')) {
    options.worker_data_cache = options.data_dir + "/cache";
  }
  options.lease_ms = static_cast<int64_t>(lease_seconds * 1000);
  options.measurement_queue_timeout_ms = static_cast<int64_t>(measurement_queue_timeout_seconds * 1000);
  options.limits.max_upload_bytes = max_upload_mib << 20;
  options.limits.submission.max_spec_bytes = max_spec_kib << 10;
  options.limits.submission.max_activation_bytes = max_activation_mib << 20;
  options.sync = sync == "full" ? qatlab::server::SyncMode::kFull : qatlab::server::SyncMode::kNormal;
  if (!token_file.empty()) {
    auto tokens = qatlab::server::ReadTokenFile(token_file);
    if (!tokens.ok()) {
      std::cerr << "qatlab-server: " << tokens.status().message() << "\n";
      return 2;
    }
    options.tokens = std::move(*tokens);
  }

  // Installed before the server starts its threads, so a signal during
  // start-up is held for the Wait() below rather than killing us half-way.
  auto stop_signal = qatlab::StopSignal::Install();
  if (!stop_signal.ok()) {
    std::cerr << "qatlab-server: " << stop_signal.status().message() << "\n";
    return 1;
  }
  auto server = qatlab::server::QatlabServer::Start(options);
  if (!server.ok()) {
    std::cerr << "qatlab-server: " << server.status().message() << "\n";
    return 1;
  }
  const int signal_number = (*stop_signal)->Wait();
  spdlog::info("qatlab-server: received {}; shutting down", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown(std::chrono::milliseconds(2000));
  return 0;
}
