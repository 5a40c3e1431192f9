// Requests whose bytes do not parse (garbage, or a string field holding
// invalid UTF-8) are INVALID_ARGUMENT naming the message type, on every
// method of both services of the real qatlab-server process: the bytes are
// sent raw through gRPC's generic stub, as a hostile client would.
#include <fmt/format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;

// Calls `method` ("/package.Service/Method") with `request_bytes` as its one
// request message, whatever its streaming kind (a generic call is a stream
// both ways), and returns the call's status. Every step is bounded.
grpc::Status CallWithBytes(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                           const std::string& request_bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(10000));
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(&context, method, &queue);
  // Completion-queue tags: the addresses of these, one per kind of step.
  char tags[6] = {};
  auto tag = [&](int index) { return static_cast<void*>(&tags[index]); };
  auto step = [&](int expected) {
    void* got = nullptr;
    bool ok = false;
    const auto deadline = std::chrono::system_clock::now() + milliseconds(10000);
    return queue.AsyncNext(&got, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT && got == tag(expected) && ok;
  };
  grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "the call never finished");
  call->StartCall(tag(1));
  if (step(1)) {
    grpc::Slice slice(request_bytes);
    grpc::ByteBuffer request(&slice, 1);
    call->Write(request, tag(2));
    if (step(2)) {
      call->WritesDone(tag(3));
      (void)step(3);
    }
  }
  // Drain what the server sent (nothing is expected), then the status.
  grpc::ByteBuffer reply;
  for (int read = 0; read < 100; ++read) {
    call->Read(&reply, tag(4));
    if (!step(4)) break;
  }
  call->Finish(&status, tag(5));
  (void)step(5);
  queue.Shutdown();
  void* drained = nullptr;
  bool drained_ok = false;
  while (queue.Next(&drained, &drained_ok)) {
  }
  return status;
}

struct Method {
  std::string path;  // "/qatlab.v1.Service/Method"
  bool client_streaming = false;
};

// Every method of both services.
std::vector<Method> EveryMethod() {
  std::vector<Method> methods;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {v1::ExperimentService::service_full_name(), v1::WorkerService::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(
          {fmt::format("/{}/{}", name, service->method(i)->name()), service->method(i)->client_streaming()});
    }
  }
  return methods;
}

class RequestParsingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int port = test_support::FreeLoopbackPort();
    auto server =
        test_support::LoggedChild::Start({QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port),
                                          "--data-dir", dir_.File("data"), "--log-level", "warn"},
                                         dir_.File("server.log"));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel_->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << server_->Log();
  }
  void TearDown() override {
    if (server_) server_->Stop(milliseconds(10000));
  }

  test_support::TempDir dir_;
  std::unique_ptr<test_support::LoggedChild> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RequestParsingTest, GarbageBytesAreInvalidArgumentOnEveryMethod) {
  // An unterminated varint tag: no protobuf message starts this way.
  const std::string garbage("\xff\xff\xff\xff\xff", 5);
  const std::vector<Method> methods = EveryMethod();
  ASSERT_GE(methods.size(), 20u);
  for (const Method& method : methods) {
    const grpc::Status status = CallWithBytes(channel_, method.path, garbage);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method.path << ": " << status.error_message();
    // An upload's reader drops the parse error and sees an empty stream
    // (proto/request_parsing.h): its refusal says so instead.
    const std::string expected = method.client_streaming ? "upload: empty stream" : "is not a valid qatlab.v1.";
    EXPECT_NE(status.error_message().find(expected), std::string::npos)
        << method.path << ": " << status.error_message();
  }
  // The server took no harm: a well-formed request still gets its answer.
  v1::GetJobRequest request;
  request.set_id("j-none");
  EXPECT_EQ(CallWithBytes(channel_, "/qatlab.v1.ExperimentService/GetJob", request.SerializeAsString()).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RequestParsingTest, AStringFieldHoldingInvalidUtf8IsInvalidArgument) {
  // Field 1 (a string in each of these requests), length 3: 0xff 0xfe 'a'.
  const std::string invalid_utf8("\x0a\x03\xff\xfe\x61", 5);
  for (const std::string method : {"/qatlab.v1.ExperimentService/GetJob", "/qatlab.v1.ExperimentService/CancelJob",
                                   "/qatlab.v1.WorkerService/GetJob", "/qatlab.v1.WorkerService/FetchDataset"}) {
    const grpc::Status status = CallWithBytes(channel_, method, invalid_utf8);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method << ": " << status.error_message();
    EXPECT_NE(status.error_message().find("not UTF-8"), std::string::npos) << method << ": " << status.error_message();
  }
}

}  // namespace
}  // namespace qatlab::server
