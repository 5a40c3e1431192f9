// The one place where qatlab::Status becomes grpc::Status. Every service
// method returns through here, so no error ever reaches a client as UNKNOWN.
#pragma once

#include <grpcpp/support/status.h>

#include "status/status.h"

namespace qatlab::server {

grpc::StatusCode ToGrpcCode(StatusCode code);
// The message is passed through unchanged (it already names what is wrong).
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace qatlab::server
