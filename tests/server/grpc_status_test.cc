// The single Status -> grpc::Status mapping: every code has a deliberate
// gRPC code (never UNKNOWN) and messages pass through unchanged.
#include "server/rpc/grpc_status.h"

#include <gtest/gtest.h>

namespace qatlab::server {
namespace {

TEST(GrpcStatusTest, EveryCodeMapsToItsGrpcCounterpart) {
  const std::vector<std::pair<Status, grpc::StatusCode>> table = {
      {Status::InvalidArgument("m"), grpc::StatusCode::INVALID_ARGUMENT},
      {Status::NotFound("m"), grpc::StatusCode::NOT_FOUND},
      {Status::AlreadyExists("m"), grpc::StatusCode::ALREADY_EXISTS},
      {Status::FailedPrecondition("m"), grpc::StatusCode::FAILED_PRECONDITION},
      {Status::Corruption("m"), grpc::StatusCode::DATA_LOSS},
      {Status::IOError("m"), grpc::StatusCode::INTERNAL},
      {Status::Unavailable("m"), grpc::StatusCode::UNAVAILABLE},
      {Status::Cancelled("m"), grpc::StatusCode::CANCELLED},
      {Status::ResourceExhausted("m"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Status::Unauthenticated("m"), grpc::StatusCode::UNAUTHENTICATED},
      {Status::PermissionDenied("m"), grpc::StatusCode::PERMISSION_DENIED},
      {Status::Internal("m"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [status, expected] : table) {
    grpc::Status mapped = ToGrpcStatus(status);
    EXPECT_EQ(mapped.error_code(), expected) << status.ToString();
    EXPECT_NE(mapped.error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(mapped.error_message(), "m");
  }
}

TEST(GrpcStatusTest, NoCodeFallsThroughToUnknown) {
  for (int code = static_cast<int>(StatusCode::kOk); code <= static_cast<int>(StatusCode::kInternal); ++code) {
    EXPECT_NE(ToGrpcCode(static_cast<StatusCode>(code)), grpc::StatusCode::UNKNOWN) << code;
  }
}

TEST(GrpcStatusTest, OkIsOk) { EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok()); }

}  // namespace
}  // namespace qatlab::server
