#include "server_client/rpc_status.h"

#include "server_client/server_link.h"

namespace qatlab {

Status FromRpcStatus(const grpc::Status& status, const std::string& what, const std::string& address) {
  if (status.ok()) return Status::Ok();
  // The code travels as the Status code; the message need not repeat it.
  std::string message = what + ": ";
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !address.empty()) {
    const std::string line = DescribeRpcError(status, address);
    message += line.substr(line.find(": ") + 2);
  } else {
    // UNAUTHENTICATED and PERMISSION_DENIED share a Status code: say which.
    if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) message += "permission denied: ";
    message += status.error_message().empty() ? RpcCodeName(status.error_code()) : status.error_message();
  }
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return Status::InvalidArgument(std::move(message));
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(std::move(message));
    case grpc::StatusCode::ALREADY_EXISTS: return Status::AlreadyExists(std::move(message));
    case grpc::StatusCode::FAILED_PRECONDITION: return Status::FailedPrecondition(std::move(message));
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return Status::Unauthenticated(std::move(message));
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::ResourceExhausted(std::move(message));
    case grpc::StatusCode::CANCELLED: return Status::Cancelled(std::move(message));
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED: return Status::Unavailable(std::move(message));
    case grpc::StatusCode::DATA_LOSS: return Status::Corruption(std::move(message));
    default: return Status::Internal(std::move(message));
  }
}

}  // namespace qatlab
