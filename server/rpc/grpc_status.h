// The one place where qatlab::Status becomes grpc::Status. Every service
// method returns through here, so no error ever reaches a client as UNKNOWN.
#pragma once

#include <grpcpp/support/status.h>

#include "status/status.h"

namespace qatlab::server {

// Longer error messages are cut (status/printable_value.h): a message that
// echoes a huge client value still fits gRPC's metadata.
inline constexpr size_t kMaxErrorMessageBytes = 1024;

grpc::StatusCode ToGrpcCode(StatusCode code);
// The message is passed through unchanged (it already names what is wrong)
// unless it is longer than kMaxErrorMessageBytes: then it is escaped and cut.
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace qatlab::server
