#include "server/rpc/auth.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "digest/sha256.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace {

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return {};
  size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

bool ParseRole(const std::string& name, Role* role) {
  if (name == "client")
    *role = Role::kClient;
  else if (name == "worker")
    *role = Role::kWorker;
  else if (name == "admin")
    *role = Role::kAdmin;
  else
    return false;
  return true;
}

// Which roles a service admits, as a refusal reads: "a client or admin token".
std::string AdmittedRoles(const std::vector<Role>& roles) {
  std::string text;
  for (size_t i = 0; i < roles.size(); ++i) {
    if (i > 0) text += i + 1 == roles.size() ? " or " : ", ";
    text += RoleName(roles[i]);
  }
  return text;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kClient: return "client";
    case Role::kWorker: return "worker";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

void RefusalLog::Record(const std::string& peer, const std::string& service, const std::string& reason) {
  const auto now = std::chrono::steady_clock::now();
  int64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    if (logged_any_ && now - last_line_ < interval_) {
      ++suppressed_;
      return;
    }
    logged_any_ = true;
    last_line_ = now;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
  spdlog::warn("refused a call to {} from {}: {}{}", service, PrintableValue(peer), reason,
               suppressed > 0 ? fmt::format(" ({} more refusals since the last line)", suppressed) : "");
}

TokenAuthenticator::TokenAuthenticator(const std::vector<AccessToken>& tokens, std::vector<Role> admitted,
                                       std::string service, int max_client_priority,
                                       std::shared_ptr<RefusalLog> refusals)
    : admitted_(std::move(admitted)),
      service_(std::move(service)),
      max_client_priority_(max_client_priority),
      refusals_(refusals ? std::move(refusals) : std::make_shared<RefusalLog>()) {
  // Comparing fixed-length digests keeps even a token's length secret.
  for (const AccessToken& token : tokens) {
    if (!token.token.empty()) digests_.push_back(Digest{token.role, Sha256Hex(token.token)});
  }
}

grpc::Status TokenAuthenticator::Refuse(const grpc::ServerContextBase& context, grpc::StatusCode code,
                                        const std::string& message) const {
  refusals_->Record(context.peer(), service_, message);
  return grpc::Status(code, message);
}

grpc::Status TokenAuthenticator::Identify(const grpc::ServerContextBase& context, Role* role) const {
  *role = Role::kAdmin;
  if (!enabled()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return Refuse(context, grpc::StatusCode::UNAUTHENTICATED,
                  "missing authorization metadata: send 'authorization: Bearer <token>'");
  }
  std::string value(it->second.data(), it->second.size());
  const std::string kPrefix = "Bearer ";
  if (value.compare(0, kPrefix.size(), kPrefix) != 0) {
    return Refuse(context, grpc::StatusCode::UNAUTHENTICATED, "authorization metadata is not 'Bearer <token>'");
  }
  const std::string offered = Sha256Hex(value.substr(kPrefix.size()));
  // Every digest is compared, so the time taken says nothing about which
  // token (if any) matched.
  bool found = false;
  for (const Digest& digest : digests_) {
    if (CRYPTO_memcmp(offered.data(), digest.sha256.data(), digest.sha256.size()) == 0) {
      found = true;
      *role = digest.role;
    }
  }
  if (!found) return Refuse(context, grpc::StatusCode::UNAUTHENTICATED, "invalid token");
  return grpc::Status::OK;
}

grpc::Status TokenAuthenticator::Check(const grpc::ServerContextBase& context) const {
  Role role;
  if (grpc::Status identified = Identify(context, &role); !identified.ok()) return identified;
  if (!enabled() || std::find(admitted_.begin(), admitted_.end(), role) != admitted_.end()) {
    return grpc::Status::OK;
  }
  return Refuse(context, grpc::StatusCode::PERMISSION_DENIED,
                fmt::format("a {} token may not call {}: it needs a {} token", RoleName(role), service_,
                            AdmittedRoles(admitted_)));
}

grpc::Status TokenAuthenticator::CheckPriority(const grpc::ServerContextBase& context, int64_t priority) const {
  if (priority <= max_client_priority_) return grpc::Status::OK;
  Role role;
  if (grpc::Status identified = Identify(context, &role); !identified.ok()) return identified;
  if (role == Role::kAdmin) return grpc::Status::OK;
  return Refuse(context, grpc::StatusCode::PERMISSION_DENIED,
                fmt::format("spec.priority: {} is above {}, the highest a {} token may ask for; "
                            "higher priorities need an admin token",
                            priority, max_client_priority_, RoleName(role)));
}

std::string TokenAuthenticator::Holder(const grpc::ServerContextBase& context) const {
  if (!enabled()) return "";
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return Sha256Hex(std::string(it->second.data(), it->second.size()));
}

StatusOr<std::vector<AccessToken>> ReadTokenFile(const std::string& path) {
  const std::string shown = PrintableValue(path);
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("--token-file " + shown + ": cannot be read");
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    spdlog::warn("--token-file {} has mode {:04o}: others on this machine may read the tokens; chmod 600 {}", shown,
                 info.st_mode & 07777, shown);
  }
  std::vector<AccessToken> tokens;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    std::string first, second, extra;
    fields >> first >> second >> extra;
    AccessToken token;
    if (second.empty()) {
      token.token = first;  // a token alone: a client's, as single-token files were
    } else {
      if (!extra.empty() || !ParseRole(first, &token.role)) {
        return Status::InvalidArgument(fmt::format(
            "--token-file {} line {}: expected 'ROLE TOKEN' with ROLE client, worker or admin, or a token alone", shown,
            line_number));
      }
      token.token = second;
    }
    for (const AccessToken& seen : tokens) {
      if (seen.token == token.token && seen.role != token.role) {
        return Status::InvalidArgument(
            fmt::format("--token-file {} line {}: this token already has the role {}; a token has one role", shown,
                        line_number, RoleName(seen.role)));
      }
    }
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) return Status::InvalidArgument("--token-file " + shown + ": the file holds no token");
  return tokens;
}

bool IsLoopbackListenAddress(const std::string& address) {
  std::string host = address;
  if (host.rfind("ipv4:", 0) == 0) host = host.substr(5);
  if (host.rfind("ipv6:", 0) == 0) host = host.substr(5);
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    host = close == std::string::npos ? host : host.substr(1, close - 1);
  } else {
    size_t colon = host.rfind(':');
    // Only one colon: host:port. More: a bare IPv6 address.
    if (colon != std::string::npos && host.find(':') == colon) host = host.substr(0, colon);
  }
  if (host == "localhost" || host == "::1") return true;
  return host.rfind("127.", 0) == 0;
}

}  // namespace qatlab::server
