#include "server/rpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/metrics.h"
#include "server/rpc/auth.h"
#include "server/rpc/experiment_service.h"
#include "server/rpc/worker_service.h"
#include "server/worker_supervisor.h"

namespace qatlab::server {

namespace {

// Idle threads the sync gRPC server keeps ready for the next call (see Start).
constexpr int kMinIdleRpcThreads = 2;
constexpr int kMaxIdleRpcThreads = 64;

StatusOr<std::string> ReadWholeFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("{} {}: cannot be read", flag, path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The address local workers dial: a wildcard listen address is reachable on
// loopback.
std::string DialAddress(const std::string& listen, int port) {
  std::string host = listen;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "*") host = "127.0.0.1";
  return fmt::format("{}:{}", host, port);
}

}  // namespace

StatusOr<std::unique_ptr<QatlabServer>> QatlabServer::Start(const ServerOptions& options, const Clock* clock) {
  if (options.token.empty() && !IsLoopbackListenAddress(options.listen)) {
    return Status::InvalidArgument(
        fmt::format("refusing to listen on {} without a token: anyone who can reach it could submit jobs and run code; "
                    "pass --token-file FILE (clients send 'authorization: Bearer <token>') or listen on 127.0.0.1",
                    options.listen));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together; give both or neither");
  }
  if (options.data_dir.empty()) return Status::InvalidArgument("--data-dir: empty");
  if (options.lease_ms < 100) return Status::InvalidArgument("--lease-seconds: a lease must last at least 0.1 s");

  std::unique_ptr<QatlabServer> server(new QatlabServer());
  server->options_ = options;
  server->clock_ = clock != nullptr ? clock : &server->system_clock_;

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return Status::IOError(fmt::format("cannot create data directory {}: {}", options.data_dir, ec.message()));

  const std::string db_path = (std::filesystem::path(options.data_dir) / "qatlab.db").string();
  QATLAB_ASSIGN_OR_RETURN(server->devices_,
                          DeviceStore::Open(db_path, *server->clock_,
                                            DeviceStoreOptions{.lease_ms = options.lease_ms,
                                                               .sync = options.sync,
                                                               .max_database_bytes = options.max_database_bytes}));
  // A job's success and the measurements its spec.measure_on asks for commit
  // in one transaction: no crash can leave a finished job unmeasured.
  JobStoreOptions job_options{
      .lease_ms = options.lease_ms, .sync = options.sync, .max_database_bytes = options.max_database_bytes};
  job_options.on_success = [devices = server->devices_.get()](Transaction& transaction, int64_t job_seq,
                                                              const v1::Job& job) {
    return devices->QueueMeasureOn(transaction, job_seq, job);
  };
  QATLAB_ASSIGN_OR_RETURN(server->store_,
                          JobStore::Open(db_path, *server->clock_, server->notifier_, std::move(job_options)));
  QATLAB_ASSIGN_OR_RETURN(
      server->catalogue_,
      Catalogue::Open(db_path, *server->clock_,
                      CatalogueOptions{.sync = options.sync, .max_database_bytes = options.max_database_bytes}));
  QATLAB_ASSIGN_OR_RETURN(server->artifacts_, ArtifactStore::Open(options.data_dir));
  server->authenticator_ = std::make_unique<TokenAuthenticator>(options.token);

  ServiceDependencies deps{*server->store_,         *server->catalogue_, *server->artifacts_, server->notifier_,
                           *server->authenticator_, options.limits,      server->draining_};
  deps.devices = server->devices_.get();
  server->experiment_service_ = std::make_unique<ExperimentService>(deps);
  server->worker_service_ = std::make_unique<WorkerService>(deps);

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options.tls_cert_file.empty()) {
    QATLAB_ASSIGN_OR_RETURN(std::string cert, ReadWholeFile(options.tls_cert_file, "--tls-cert"));
    QATLAB_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(options.tls_key_file, "--tls-key"));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.RegisterService(server->experiment_service_.get());
  builder.RegisterService(server->worker_service_.get());
  // Upload chunks may be up to a few MiB; leave headroom above gRPC's 4 MiB.
  builder.SetMaxReceiveMessageSize(16 << 20);
  // The sync server's defaults (1..2 idle polling threads) make a thread that
  // finishes an RPC exit whenever two others are idle, and a new one start
  // whenever none is: with a few concurrent clients that is a thread created
  // and joined every few calls, which cost more than the SQLite commit. Keep
  // idle threads around instead (they leave after 10 s idle beyond the max).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, kMinIdleRpcThreads);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxIdleRpcThreads);
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return Status::InvalidArgument(
        fmt::format("cannot listen on {} (address in use, or not an address of this machine)", options.listen));
  }
  server->address_ = DialAddress(options.listen, server->port_);
  if (auto* health = server->grpc_server_->GetHealthCheckService()) health->SetServingStatus(true);

  server->reaper_ = std::thread([raw = server.get()] { raw->ReapLeases(); });

  if (options.local_workers > 0) {
    StatusOr<std::string> binary = WorkerSupervisor::FindWorkerBinary(options.worker_binary);
    if (!binary.ok()) {
      server->Shutdown(std::chrono::milliseconds(0));
      return binary.status();
    }
    WorkerSupervisorOptions supervision;
    supervision.binary = *binary;
    supervision.server_address = server->address_;
    supervision.count = options.local_workers;
    supervision.token_file = options.token_file;
    supervision.data_cache = options.worker_data_cache;
    supervision.stop_grace = options.worker_stop_grace;
    server->supervisor_ = std::make_unique<WorkerSupervisor>(supervision);
    QATLAB_RETURN_IF_ERROR(server->supervisor_->Start());
  }
  if (!options.metrics_listen.empty()) {
    StatusOr<std::unique_ptr<MetricsEndpoint>> metrics =
        MetricsEndpoint::Start(options.metrics_listen, db_path, options.local_workers);
    if (!metrics.ok()) {
      server->Shutdown(std::chrono::milliseconds(0));
      return metrics.status();
    }
    server->metrics_ = std::move(*metrics);
    spdlog::info("metrics on http://{}/metrics (port {})", options.metrics_listen, server->metrics_->port());
  }
  spdlog::info("qatlab-server listening on {} (port {}), data in {}, {}{}", options.listen, server->port_,
               options.data_dir, options.token.empty() ? "no token" : "token required",
               options.tls_cert_file.empty() ? "" : ", TLS");
  return server;
}

int QatlabServer::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

void QatlabServer::ReapLeases() {
  const auto interval = std::chrono::milliseconds(std::clamp<int64_t>(options_.lease_ms / 10, 20, 250));
  std::unique_lock lock(reaper_mutex_);
  while (!reaper_stop_) {
    lock.unlock();
    StatusOr<int> expired = store_->ExpireLeases();
    if (!expired.ok()) spdlog::error("lease expiry failed: {}", expired.status().ToString());
    StatusOr<int> expired_measurements = devices_->ExpireLeases();
    if (!expired_measurements.ok()) {
      spdlog::error("measurement lease expiry failed: {}", expired_measurements.status().ToString());
    }
    lock.lock();
    reaper_wake_.wait_for(lock, interval, [&] { return reaper_stop_; });
  }
}

void QatlabServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  draining_ = true;
  if (auto* health = grpc_server_ ? grpc_server_->GetHealthCheckService() : nullptr) {
    health->SetServingStatus(false);
  }
  // Workers are stopped while the server still serves, so they can give their
  // jobs back (FailJob retryable) before it goes away.
  if (supervisor_) supervisor_->Stop();
  notifier_.Shutdown();  // wakes long polls and watches
  if (devices_) devices_->Shutdown();
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now() + grace);
  {
    std::lock_guard lock(reaper_mutex_);
    reaper_stop_ = true;
  }
  reaper_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  metrics_.reset();
  spdlog::info("qatlab-server stopped");
}

QatlabServer::~QatlabServer() { Shutdown(); }

}  // namespace qatlab::server
