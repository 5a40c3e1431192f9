// Bearer-token access control. With a token configured every call must carry
// metadata "authorization: Bearer <token>"; the comparison takes the same time
// whatever the token's content. Without a token (loopback only, enforced by
// the server at start-up) every call is allowed.
#pragma once

#include <grpcpp/server_context.h>

#include <string>

#include "status/status.h"

namespace qatlab::server {

class TokenAuthenticator {
 public:
  // An empty token means "open".
  explicit TokenAuthenticator(const std::string& token);

  bool enabled() const { return !token_digest_.empty(); }
  // OK, or UNAUTHENTICATED with a message saying what was missing.
  grpc::Status Check(const grpc::ServerContextBase& context) const;

 private:
  std::string token_digest_;  // sha256 of the token; empty when open
};

// Reads a token file: the first line, surrounding whitespace removed.
// InvalidArgument when the file is missing, unreadable or empty.
StatusOr<std::string> ReadTokenFile(const std::string& path);

// True for 127.0.0.0/8, ::1, and "localhost" (with or without a port).
bool IsLoopbackListenAddress(const std::string& address);

}  // namespace qatlab::server
