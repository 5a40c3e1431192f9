// QatlabServer assembles the parts: the JobStore and ArtifactStore under the
// data directory, the two gRPC services (plus health and reflection, v1 and
// v1alpha), the lease reaper thread and the local worker supervisor. main.cc
// only parses flags into ServerOptions; tests start the same server
// in-process.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/rpc/auth.h"
#include "server/rpc/service_dependencies.h"
#include "server/store/clock.h"
#include "status/status.h"

namespace grpc {
class Server;
}

namespace qatlab::server {

class ExperimentService;
class MetricsEndpoint;
class SearchRunner;
class WorkerService;
class WorkerSupervisor;
class WriteProbe;

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // port 0: pick a free one (see port())
  std::string data_dir;                    // created if missing
  // Bearer tokens with their roles (server/rpc/auth.h); empty: open
  // (loopback only). Local workers get a worker token of their own.
  std::vector<AccessToken> tokens;
  int max_client_priority = 0;  // higher priorities need an admin token
  std::string tls_cert_file;    // both set: TLS
  std::string tls_key_file;
  // Set (with TLS): clients must present a certificate signed by these CAs.
  std::string tls_client_ca_file;
  int64_t lease_ms = 30000;
  SyncMode sync = SyncMode::kNormal;
  // > 0: a quota on qatlab.db; past it submissions fail RESOURCE_EXHAUSTED,
  // as they do when the disk itself is full.
  int64_t max_database_bytes = 0;
  ServiceLimits limits;
  int local_workers = 0;
  std::string worker_binary;  // empty: found next to this executable
  std::string worker_data_cache;
  std::chrono::milliseconds worker_stop_grace{10000};
  // "host:port": serve Prometheus metrics there (server/metrics.h); empty:
  // no metrics endpoint.
  std::string metrics_listen;
  // How often the server proves it can write its database (WriteProbe);
  // health is NOT_SERVING from the first failed write to the next success.
  std::chrono::milliseconds write_probe_interval{1000};
  // A measurement queued this long for a board kind no agent registered
  // fails, saying so (DeviceStoreOptions::queue_timeout_ms); 0: never.
  int64_t measurement_queue_timeout_ms = 24 * 3600 * 1000;
};

class QatlabServer {
 public:
  // Opens the stores, starts serving and spawns the local workers.
  // InvalidArgument for a non-loopback listen address without a token or an
  // address that cannot be bound; FailedPrecondition for a database newer than
  // this binary. `clock` (default: system) must outlive the server.
  static StatusOr<std::unique_ptr<QatlabServer>> Start(const ServerOptions& options, const Clock* clock = nullptr);
  ~QatlabServer();  // Shutdown()s

  // Stops taking submissions and leases, stops the local workers (they give
  // their jobs back), ends in-flight calls within `grace`, and stops threads.
  // Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  int port() const { return port_; }
  // "127.0.0.1:<port>" (or the listen host) — what clients and workers dial.
  const std::string& address() const { return address_; }
  // What local workers dial: address(), or with TLS the server's unix
  // socket in the data directory (server/rpc/local_worker_access.h).
  const std::string& local_worker_address() const { return local_worker_address_; }
  JobStore& store() { return *store_; }
  SearchStore& searches() { return *searches_; }
  ArtifactStore& artifacts() { return *artifacts_; }
  WorkerSupervisor* supervisor() { return supervisor_.get(); }
  // The metrics endpoint's port; 0 without --metrics-listen.
  int metrics_port() const;

 private:
  QatlabServer() = default;
  void ReapLeases();  // and probes writes (the same thread)
  void ProbeWrites();
  // Health for "" and both services; never SERVING again once draining.
  void SetServing(bool serving);

  ServerOptions options_;
  SystemClock system_clock_;
  const Clock* clock_ = nullptr;
  JobNotifier notifier_;
  std::unique_ptr<DeviceStore> devices_;  // before store_: its on_success hook uses devices_
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Catalogue> catalogue_;
  std::unique_ptr<SearchStore> searches_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<WriteProbe> write_probe_;
  bool database_writable_ = true;                                 // used by the reaper thread only
  std::mutex health_mutex_;                                       // orders SetServing calls
  std::unique_ptr<TokenAuthenticator> experiment_authenticator_;  // client, admin
  std::unique_ptr<TokenAuthenticator> worker_authenticator_;      // worker
  std::atomic<bool> draining_{false};
  // Before the services: they hold a pointer to it; stopped (its threads
  // joined) at the start of Shutdown, before the gRPC server goes away.
  std::unique_ptr<SearchRunner> search_runner_;
  std::unique_ptr<ExperimentService> experiment_service_;
  std::unique_ptr<WorkerService> worker_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<WorkerSupervisor> supervisor_;
  std::unique_ptr<MetricsEndpoint> metrics_;
  std::thread reaper_;
  std::mutex reaper_mutex_;
  std::condition_variable reaper_wake_;
  bool reaper_stop_ = false;  // guarded by reaper_mutex_
  int port_ = 0;
  std::string address_;
  std::string local_worker_address_;
  bool shut_down_ = false;
};

}  // namespace qatlab::server
