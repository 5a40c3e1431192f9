// A failed call to the server as a qatlab Status: the one gRPC -> Status
// mapping on the client side (the server's Status -> gRPC mapping is
// server/grpc_status.h). Code that calls the server works with Status from
// here on, so "is this worth retrying" is one question everywhere: the
// server was away or slow (kUnavailable), or it refused (anything else).
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "status/status.h"

namespace qatlab {

// OK for an OK call; otherwise a Status whose message is
// "<what>: <the server's message>" (the gRPC code's name when it sent none;
// DescribeStatus() then reads "NOT_FOUND: <what>: ...") and whose code is
//   INVALID_ARGUMENT, OUT_OF_RANGE          -> kInvalidArgument
//   NOT_FOUND                               -> kNotFound
//   ALREADY_EXISTS                          -> kAlreadyExists
//   FAILED_PRECONDITION                     -> kFailedPrecondition
//   UNAUTHENTICATED, PERMISSION_DENIED      -> kUnauthenticated
//   RESOURCE_EXHAUSTED                      -> kResourceExhausted
//   CANCELLED                               -> kCancelled
//   UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED -> kUnavailable (worth retrying)
//   DATA_LOSS                               -> kCorruption
//   anything else                           -> kInternal
// A PERMISSION_DENIED message reads "<what>: permission denied: <...>".
// With `address`, an UNAVAILABLE reads "cannot reach qatlab-server at
// <address> (<gRPC's text>)", as DescribeRpcError() words it.
Status FromRpcStatus(const grpc::Status& status, const std::string& what, const std::string& address = "");

}  // namespace qatlab
