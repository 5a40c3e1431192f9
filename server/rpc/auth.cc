#include "server/rpc/auth.h"

#include <openssl/crypto.h>

#include <fstream>

#include "digest/sha256.h"
#include "server/rpc/grpc_status.h"

namespace qatlab::server {

namespace {

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return {};
  size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

TokenAuthenticator::TokenAuthenticator(const std::string& token) {
  // Comparing fixed-length digests keeps even the token's length secret.
  if (!token.empty()) token_digest_ = Sha256Hex(token);
}

grpc::Status TokenAuthenticator::Check(const grpc::ServerContextBase& context) const {
  if (!enabled()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return ToGrpcStatus(
        Status::Unauthenticated("missing authorization metadata: send 'authorization: Bearer <token>'"));
  }
  std::string value(it->second.data(), it->second.size());
  const std::string kPrefix = "Bearer ";
  if (value.compare(0, kPrefix.size(), kPrefix) != 0) {
    return ToGrpcStatus(Status::Unauthenticated("authorization metadata is not 'Bearer <token>'"));
  }
  std::string offered = Sha256Hex(value.substr(kPrefix.size()));
  if (CRYPTO_memcmp(offered.data(), token_digest_.data(), token_digest_.size()) != 0) {
    return ToGrpcStatus(Status::Unauthenticated("invalid token"));
  }
  return grpc::Status::OK;
}

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("--token-file " + path + ": cannot be read");
  std::string line;
  std::getline(in, line);
  std::string token = Trim(line);
  if (token.empty()) return Status::InvalidArgument("--token-file " + path + ": the file holds no token");
  return token;
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
