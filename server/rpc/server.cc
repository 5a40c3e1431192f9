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
#include "server/rpc/private_files.h"
#include "server/rpc/reflection_v1.h"
#include "server/rpc/search_runner.h"
#include "server/rpc/worker_service.h"
#include "server/store/random_tokens.h"
#include "server/store/write_probe.h"
#include "server/worker_supervisor.h"
#include "status/printable_value.h"

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

// The longest path a unix socket address may hold (sun_path, with its NUL).
constexpr size_t kMaxUnixSocketPath = 107;

// With TLS the local workers do not dial the TLS port: they would need the
// CA that signed the server's certificate and a name in it that resolves to
// this machine, and, with client certificates required, a certificate of
// their own. They reach the server over a unix socket in the data directory
// instead (plaintext: the bytes never leave the kernel, and the 0700 data
// directory lets no other user connect), still with their worker token.
StatusOr<std::string> LocalWorkerSocket(const std::string& data_dir) {
  std::error_code ec;
  std::string path = (std::filesystem::absolute(data_dir, ec) / "local-workers.sock").string();
  if (ec || path.size() > kMaxUnixSocketPath) {
    return Status::InvalidArgument(
        fmt::format("--data-dir {}: with TLS, local workers connect over the unix socket {}, and that path is longer "
                    "than {} bytes; use a shorter data directory or --local-workers 0",
                    PrintableValue(data_dir), PrintableValue(path), kMaxUnixSocketPath));
  }
  return "unix:" + path;
}

}  // namespace

StatusOr<std::unique_ptr<QatlabServer>> QatlabServer::Start(const ServerOptions& options, const Clock* clock) {
  if (options.tokens.empty() && !IsLoopbackListenAddress(options.listen)) {
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
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return Status::InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key: client certificates are TLS");
  }

  std::unique_ptr<QatlabServer> server(new QatlabServer());
  server->options_ = options;
  server->clock_ = clock != nullptr ? clock : &server->system_clock_;

  QATLAB_RETURN_IF_ERROR(CreatePrivateDirectory(options.data_dir));
  const std::string db_path = (std::filesystem::path(options.data_dir) / "qatlab.db").string();
  QATLAB_RETURN_IF_ERROR(CreatePrivateFileIfMissing(db_path));
  QATLAB_ASSIGN_OR_RETURN(
      server->devices_,
      DeviceStore::Open(db_path, *server->clock_,
                        DeviceStoreOptions{.lease_ms = options.lease_ms,
                                           .sync = options.sync,
                                           .max_database_bytes = options.max_database_bytes,
                                           .queue_timeout_ms = options.measurement_queue_timeout_ms}));
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
  QATLAB_ASSIGN_OR_RETURN(
      server->searches_,
      SearchStore::Open(db_path, *server->clock_,
                        SearchStoreOptions{.sync = options.sync, .max_database_bytes = options.max_database_bytes}));
  QATLAB_ASSIGN_OR_RETURN(server->artifacts_, ArtifactStore::Open(options.data_dir));
  QATLAB_ASSIGN_OR_RETURN(server->write_probe_, WriteProbe::Open(db_path));

  // The local workers' own worker token: drawn afresh at each start, known
  // only to this process and to the 0600 file the workers read.
  std::vector<AccessToken> worker_tokens = options.tokens;
  std::string local_worker_token_file;
  if (!options.tokens.empty() && options.local_workers > 0) {
    AccessToken local{Role::kWorker, RandomToken(52)};
    local_worker_token_file = (std::filesystem::path(options.data_dir) / "local-worker.token").string();
    QATLAB_RETURN_IF_ERROR(WritePrivateFile(local_worker_token_file, local.token + "\n"));
    worker_tokens.push_back(std::move(local));
  }
  // The searches' own token (server/rpc/search_runner.h): drawn afresh at
  // each start and never written anywhere, so only this process's in-process
  // channel presents it. An admin's: the search's priority was checked
  // against its submitter at SubmitSearch, and its jobs keep that priority.
  std::vector<AccessToken> experiment_tokens = options.tokens;
  std::string search_token;
  if (!options.tokens.empty()) {
    search_token = RandomToken(52);
    experiment_tokens.push_back(AccessToken{Role::kAdmin, search_token});
  }
  server->search_runner_ = std::make_unique<SearchRunner>(*server->searches_, *server->store_, server->devices_.get(),
                                                          *server->clock_, search_token);
  auto refusals = std::make_shared<RefusalLog>();
  server->experiment_authenticator_ =
      std::make_unique<TokenAuthenticator>(experiment_tokens, std::vector<Role>{Role::kClient, Role::kAdmin},
                                           "ExperimentService", options.max_client_priority, refusals);
  server->worker_authenticator_ = std::make_unique<TokenAuthenticator>(
      worker_tokens, std::vector<Role>{Role::kWorker}, "WorkerService", options.max_client_priority, refusals);

  ServiceDependencies experiment_deps{
      *server->store_, *server->catalogue_, *server->artifacts_, server->notifier_, *server->experiment_authenticator_,
      options.limits,  server->draining_};
  experiment_deps.devices = server->devices_.get();
  experiment_deps.searches = server->searches_.get();
  experiment_deps.search_runner = server->search_runner_.get();
  ServiceDependencies worker_deps{
      *server->store_, *server->catalogue_, *server->artifacts_, server->notifier_, *server->worker_authenticator_,
      options.limits,  server->draining_};
  worker_deps.devices = server->devices_.get();
  server->experiment_service_ = std::make_unique<ExperimentService>(experiment_deps);
  server->worker_service_ = std::make_unique<WorkerService>(worker_deps);

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!options.tls_cert_file.empty()) {
    QATLAB_ASSIGN_OR_RETURN(std::string cert, ReadWholeFile(options.tls_cert_file, "--tls-cert"));
    QATLAB_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(options.tls_key_file, "--tls-key"));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    if (!options.tls_client_ca_file.empty()) {
      QATLAB_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadWholeFile(options.tls_client_ca_file, "--tls-client-ca"));
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection in both versions: v1alpha from gRPC's plugin, v1 our own
  // (reflection_v1.h); each lists the other.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetOption(ReflectionV1Option());
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  std::string local_worker_socket;
  if (!options.tls_cert_file.empty() && options.local_workers > 0) {
    QATLAB_ASSIGN_OR_RETURN(local_worker_socket, LocalWorkerSocket(options.data_dir));
    builder.AddListeningPort(local_worker_socket, grpc::InsecureServerCredentials());
  }
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
  server->local_worker_address_ = local_worker_socket.empty() ? server->address_ : local_worker_socket;
  server->SetServing(true);
  {
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(64 << 20);  // GetResults of a job with many variants and measurements
    server->search_runner_->Attach(server->grpc_server_->InProcessChannel(arguments));
  }
  if (Status resumed = server->search_runner_->ResumeUnfinished(); !resumed.ok()) {
    server->Shutdown(std::chrono::milliseconds(0));
    return resumed;
  }

  server->reaper_ = std::thread([raw = server.get()] { raw->ReapLeases(); });

  if (options.local_workers > 0) {
    StatusOr<std::string> binary = WorkerSupervisor::FindWorkerBinary(options.worker_binary);
    if (!binary.ok()) {
      server->Shutdown(std::chrono::milliseconds(0));
      return binary.status();
    }
    WorkerSupervisorOptions supervision;
    supervision.binary = *binary;
    supervision.server_address = server->local_worker_address_;
    supervision.count = options.local_workers;
    supervision.token_file = local_worker_token_file;
    supervision.data_cache = options.worker_data_cache;
    supervision.stop_grace = options.worker_stop_grace;
    // A dead local worker's job need not wait out its lease.
    supervision.on_death = [store = server->store_.get()](const std::string& worker_id, const std::string& how) {
      StatusOr<int> released = store->ReleaseJobsOf(worker_id, "died (" + how + ")");
      if (!released.ok()) spdlog::warn("releasing the jobs of {}: {}", worker_id, released.status().ToString());
    };
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
               PrintableValue(options.data_dir), options.tokens.empty() ? "no token" : "tokens required",
               options.tls_cert_file.empty()        ? ""
               : options.tls_client_ca_file.empty() ? ", TLS"
                                                    : ", TLS with client certificates");
  return server;
}

int QatlabServer::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

void QatlabServer::SetServing(bool serving) {
  std::lock_guard lock(health_mutex_);
  auto* health = grpc_server_ ? grpc_server_->GetHealthCheckService() : nullptr;
  if (health == nullptr || (serving && draining_)) return;
  // The whole server ("") and each service by its full name, so a probe
  // can ask for the one it depends on (a worker: WorkerService). Both
  // services need the database, so one answer holds for all three.
  health->SetServingStatus(serving);
  for (const char* service : {v1::ExperimentService::service_full_name(), v1::WorkerService::service_full_name()}) {
    health->SetServingStatus(service, serving);
  }
}

void QatlabServer::ProbeWrites() {
  Status written = write_probe_->Probe();
  if (written.ok() != database_writable_) {
    database_writable_ = written.ok();
    if (written.ok()) {
      spdlog::info("the database can be written again: health SERVING");
    } else {
      spdlog::error("the database cannot be written ({}): health NOT_SERVING until it can",
                    PrintableValue(written.ToString()));
    }
    SetServing(database_writable_);
  }
}

void QatlabServer::ReapLeases() {
  const auto interval = std::chrono::milliseconds(std::clamp<int64_t>(options_.lease_ms / 10, 20, 250));
  auto next_probe = std::chrono::steady_clock::now() + options_.write_probe_interval;
  std::unique_lock lock(reaper_mutex_);
  while (!reaper_stop_) {
    lock.unlock();
    if (std::chrono::steady_clock::now() >= next_probe) {
      ProbeWrites();
      StatusOr<int> unserved = devices_->FailUnservedMeasurements();
      if (!unserved.ok()) spdlog::error("failing unserved measurements: {}", unserved.status().ToString());
      next_probe = std::chrono::steady_clock::now() + options_.write_probe_interval;
    }
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
  SetServing(false);
  // The searches stop first (they stay RUNNING and resume at the next
  // start), while the server can still answer their last calls.
  if (search_runner_) search_runner_->Shutdown();
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
