// Bearer tokens with roles. Each token the server accepts has one role:
//   client  ExperimentService: submit, watch, list, cancel, upload data sets,
//           download artifacts, devices, measure. Priorities up to
//           --max-client-priority.
//   admin   everything a client may do, and any priority.
//   worker  WorkerService: lease and finish jobs and measurements, upload
//           artifacts, fetch data sets, register devices (qatlab-worker,
//           qatlab-agent). Nothing of ExperimentService.
// A call must carry metadata "authorization: Bearer <token>": a missing or
// unknown token is UNAUTHENTICATED, a known token of a role the service does
// not admit is PERMISSION_DENIED. The comparison takes the same time whatever
// the token's content. Without tokens (loopback only, enforced by the server
// at start-up) every call is allowed and every caller is an admin.
// Refusals are logged, rate-limited, with the peer's address.
#pragma once

#include <grpcpp/server_context.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab::server {

enum class Role { kClient, kWorker, kAdmin };

// "client", "worker", "admin".
const char* RoleName(Role role);

struct AccessToken {
  Role role = Role::kClient;
  std::string token;
};

// Writes refused calls to the log: at most one line per `interval`, the
// first refusal at once and later ones counted into the next line, so a
// client hammering with a wrong token cannot flood the log.
// Thread-safety: any thread.
class RefusalLog {
 public:
  explicit RefusalLog(std::chrono::milliseconds interval = std::chrono::milliseconds(1000)) : interval_(interval) {}
  void Record(const std::string& peer, const std::string& service, const std::string& reason);

 private:
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_line_;  // guarded by mutex_
  bool logged_any_ = false;                          // guarded by mutex_
  int64_t suppressed_ = 0;                           // guarded by mutex_
};

class TokenAuthenticator {
 public:
  // `tokens` empty: open. `service` names the service in refusals
  // ("WorkerService"); `admitted` are the roles it serves. A client may
  // submit priorities up to `max_client_priority`; an admin any.
  TokenAuthenticator(const std::vector<AccessToken>& tokens, std::vector<Role> admitted, std::string service,
                     int max_client_priority, std::shared_ptr<RefusalLog> refusals);

  bool enabled() const { return !digests_.empty(); }
  // OK; UNAUTHENTICATED when the token is missing or unknown;
  // PERMISSION_DENIED when its role is not admitted here.
  grpc::Status Check(const grpc::ServerContextBase& context) const;
  // PERMISSION_DENIED when `priority` is above the client limit and the
  // caller is not an admin (call after Check).
  grpc::Status CheckPriority(const grpc::ServerContextBase& context, int64_t priority) const;
  // Who is calling, for binding leases to their takers (server/store/lease.h):
  // the digest of the token presented; "" when the server is open (call
  // after Check).
  std::string Holder(const grpc::ServerContextBase& context) const;

 private:
  struct Digest {
    Role role;
    std::string sha256;  // hex digest of the token: fixed length
  };
  // The caller's role, or a refusal (logged).
  grpc::Status Identify(const grpc::ServerContextBase& context, Role* role) const;
  grpc::Status Refuse(const grpc::ServerContextBase& context, grpc::StatusCode code, const std::string& message) const;

  std::vector<Digest> digests_;  // empty when open
  std::vector<Role> admitted_;
  std::string service_;
  int max_client_priority_;
  std::shared_ptr<RefusalLog> refusals_;
};

// Reads a token file: one token per line, "ROLE TOKEN" (ROLE: client,
// worker or admin) or a token alone (a client token: the single-token files
// of earlier versions keep working for clients). Blank lines and lines
// starting with '#' are skipped. InvalidArgument when the file is missing,
// unreadable, holds no token, names an unknown role or gives one token two
// roles. A file that others may read (mode & 077) is accepted with a warning
// naming the file and its mode.
StatusOr<std::vector<AccessToken>> ReadTokenFile(const std::string& path);

// True for 127.0.0.0/8, ::1, and "localhost" (with or without a port).
bool IsLoopbackListenAddress(const std::string& address);

}  // namespace qatlab::server
