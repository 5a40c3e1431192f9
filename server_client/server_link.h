// How qatctl and remote workers reach a qatlab-server: where it is, the
// bearer token that proves who is calling, and how a failed call reads in one
// line. Shared by the CLI (client/) and `qatlab-worker --server` (worker/).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "status/status.h"

namespace qatlab {

// The address used when neither --server nor QATLAB_SERVER says otherwise.
inline constexpr const char* kDefaultServerAddress = "127.0.0.1:50051";

// The server address: `flag_value` when not empty, else $QATLAB_SERVER when
// set and not empty, else kDefaultServerAddress.
std::string ResolveServerAddress(const std::string& flag_value);

// The bearer token: the first line of `token_file` (surrounding whitespace
// removed) when a file is named, else $QATLAB_TOKEN, else "" (no token; the
// server decides whether that is allowed).
// Fails with IOError when the named file cannot be read, and with
// InvalidArgument when it holds no token.
StatusOr<std::string> ResolveToken(const std::string& token_file);

// An insecure channel to `address` (host:port). Creating it does not connect;
// the first call does.
std::shared_ptr<grpc::Channel> OpenServerChannel(const std::string& address);

// Adds the credentials every call must carry ("authorization: Bearer <token>")
// and, when `timeout_ms` > 0, a deadline. An empty token adds no header.
void PrepareCall(grpc::ClientContext* context, const std::string& token, int timeout_ms);

// "NOT_FOUND", "INVALID_ARGUMENT", ... as gRPC spells its codes.
const char* RpcCodeName(grpc::StatusCode code);

// One line that names what went wrong: "NOT_FOUND: job j-123 not found".
// A failure with an empty message reads as the code alone, and UNAVAILABLE
// says which address could not be reached when `address` is given.
std::string DescribeRpcError(const grpc::Status& status, const std::string& address = "");

// The same line for a local failure, with the code spelled like gRPC's
// (an I/O error reads "IO_ERROR: ..."), so every error line looks alike.
std::string DescribeStatus(const Status& status);

// True for failures worth retrying after a pause: the server is away,
// restarting, or the call timed out.
bool IsTransientRpcError(const grpc::Status& status);

}  // namespace qatlab
