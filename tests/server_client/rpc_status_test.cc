// The one gRPC -> Status mapping: every code lands where rpc_status.h says,
// and "worth retrying" is exactly kUnavailable.
#include "server_client/rpc_status.h"

#include <gtest/gtest.h>

namespace qatlab {
namespace {

TEST(FromRpcStatusTest, EachCodeMapsAsDocumented) {
  struct Case {
    grpc::StatusCode rpc;
    StatusCode expected;
  };
  const Case cases[] = {
      {grpc::StatusCode::INVALID_ARGUMENT, StatusCode::kInvalidArgument},
      {grpc::StatusCode::OUT_OF_RANGE, StatusCode::kInvalidArgument},
      {grpc::StatusCode::NOT_FOUND, StatusCode::kNotFound},
      {grpc::StatusCode::ALREADY_EXISTS, StatusCode::kAlreadyExists},
      {grpc::StatusCode::FAILED_PRECONDITION, StatusCode::kFailedPrecondition},
      {grpc::StatusCode::UNAUTHENTICATED, StatusCode::kUnauthenticated},
      {grpc::StatusCode::PERMISSION_DENIED, StatusCode::kUnauthenticated},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, StatusCode::kResourceExhausted},
      {grpc::StatusCode::CANCELLED, StatusCode::kCancelled},
      {grpc::StatusCode::UNAVAILABLE, StatusCode::kUnavailable},
      {grpc::StatusCode::DEADLINE_EXCEEDED, StatusCode::kUnavailable},
      {grpc::StatusCode::ABORTED, StatusCode::kUnavailable},
      {grpc::StatusCode::DATA_LOSS, StatusCode::kCorruption},
      {grpc::StatusCode::INTERNAL, StatusCode::kInternal},
      {grpc::StatusCode::UNKNOWN, StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    Status status = FromRpcStatus(grpc::Status(c.rpc, "the reason"), "GetJob j-1");
    EXPECT_EQ(status.code(), c.expected) << static_cast<int>(c.rpc);
    EXPECT_EQ(status.message().rfind("GetJob j-1: ", 0), 0u) << status.message();
    EXPECT_NE(status.message().find("the reason"), std::string::npos) << status.message();
  }
  EXPECT_TRUE(FromRpcStatus(grpc::Status::OK, "anything").ok());
}

TEST(FromRpcStatusTest, PermissionDeniedSaysSoThoughItSharesUnauthenticatedsCode) {
  const Status denied = FromRpcStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "a client token"), "LeaseJob");
  EXPECT_EQ(denied.message(), "LeaseJob: permission denied: a client token");
  const Status unknown = FromRpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token"), "LeaseJob");
  EXPECT_EQ(unknown.message(), "LeaseJob: invalid token");
}

TEST(FromRpcStatusTest, UnavailableNamesTheServerThatCouldNotBeReached) {
  Status status =
      FromRpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), "LeaseJob", "127.0.0.1:1");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "LeaseJob: cannot reach qatlab-server at 127.0.0.1:1 (connection refused)");
  EXPECT_EQ(FromRpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, ""), "GetJob j-1").message(),
            "GetJob j-1: NOT_FOUND");
}

}  // namespace
}  // namespace qatlab
