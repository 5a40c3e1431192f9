#include "server/rpc/grpc_status.h"

#include "status/printable_value.h"

namespace qatlab::server {

grpc::StatusCode ToGrpcCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kCorruption: return grpc::StatusCode::DATA_LOSS;
    // A disk error on the server is the server's fault, not the caller's.
    case StatusCode::kIOError: return grpc::StatusCode::INTERNAL;
    case StatusCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kCancelled: return grpc::StatusCode::CANCELLED;
    case StatusCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kPermissionDenied: return grpc::StatusCode::PERMISSION_DENIED;
    case StatusCode::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;  // unreachable: every code is listed above
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // Messages echo what the caller sent (an id, a name); an 8,000-character
  // id must come back as NOT_FOUND with its echo cut, not overflow gRPC's
  // metadata limit and turn into RESOURCE_EXHAUSTED.
  if (status.message().size() > kMaxErrorMessageBytes) {
    return grpc::Status(ToGrpcCode(status.code()), PrintableValue(status.message(), kMaxErrorMessageBytes));
  }
  return grpc::Status(ToGrpcCode(status.code()), status.message());
}

}  // namespace qatlab::server
