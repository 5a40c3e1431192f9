// gRPC server reflection in both versions. A v1 client (our generated stub)
// and a v1alpha client talk to the in-process server over real gRPC on
// 127.0.0.1, with tokens configured and none sent: reflection stays open.
// The v1alpha client sends our v1 messages on v1alpha's method: the two
// versions share one wire format, which this also checks. The extension
// requests, which none of our proto3 files can exercise, are checked on a
// descriptor pool built here.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/text_format.h>
#include <grpcpp/impl/codegen/client_context.h>
#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "server/rpc/reflection_v1.h"
#include "server_fixture.h"

namespace qatlab::server::testing {
namespace {

namespace reflection = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptorProto;

constexpr const char* kV1alphaMethod = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

reflection::ServerReflectionRequest ListServices() {
  reflection::ServerReflectionRequest request;
  request.set_list_services("*");
  return request;
}

reflection::ServerReflectionRequest FileContainingSymbol(const std::string& symbol) {
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  return request;
}

std::vector<std::string> ServiceNames(const reflection::ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const reflection::ServiceResponse& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<FileDescriptorProto> Files(const reflection::ServerReflectionResponse& response) {
  std::vector<FileDescriptorProto> files;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    EXPECT_TRUE(files.emplace_back().ParseFromString(bytes));
  }
  return files;
}

// The names of `file` and of every file it imports, directly or not, from
// the server's own generated pool: what a file answer must carry.
std::set<std::string> TransitiveClosure(const google::protobuf::FileDescriptor* file) {
  std::set<std::string> names;
  std::vector<const google::protobuf::FileDescriptor*> pending = {file};
  while (!pending.empty()) {
    const google::protobuf::FileDescriptor* next = pending.back();
    pending.pop_back();
    if (!names.insert(next->name()).second) continue;
    for (int i = 0; i < next->dependency_count(); ++i) pending.push_back(next->dependency(i));
  }
  return names;
}

class ReflectionTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    options_.tokens = {{Role::kClient, "client-token"}, {Role::kWorker, "worker-token"}};
    StartServer();
  }

  // Sends `requests` on one v1 stream (the generated stub), then closes its
  // side and reads every answer.
  std::vector<reflection::ServerReflectionResponse> AskV1(
      const std::vector<reflection::ServerReflectionRequest>& requests) {
    auto stub = reflection::ServerReflection::NewStub(channel_);
    auto context = Context();
    return Exchange(stub->ServerReflectionInfo(context.get()), requests);
  }

  // The same on the v1alpha service: its messages are v1's, field for
  // field, so a generic bidi call carrying v1 messages is a v1alpha client.
  std::vector<reflection::ServerReflectionResponse> AskV1alpha(
      const std::vector<reflection::ServerReflectionRequest>& requests) {
    const grpc::internal::RpcMethod method(kV1alphaMethod, grpc::internal::RpcMethod::BIDI_STREAMING);
    auto context = Context();
    std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest, reflection::ServerReflectionResponse>>
        stream(grpc::internal::ClientReaderWriterFactory<reflection::ServerReflectionRequest,
                                                         reflection::ServerReflectionResponse>::Create(channel_.get(),
                                                                                                       method,
                                                                                                       context.get()));
    return Exchange(std::move(stream), requests);
  }

 private:
  template <typename Stream>
  static std::vector<reflection::ServerReflectionResponse> Exchange(
      Stream stream, const std::vector<reflection::ServerReflectionRequest>& requests) {
    for (const reflection::ServerReflectionRequest& request : requests) EXPECT_TRUE(stream->Write(request));
    EXPECT_TRUE(stream->WritesDone());
    std::vector<reflection::ServerReflectionResponse> responses;
    reflection::ServerReflectionResponse response;
    while (stream->Read(&response)) responses.push_back(response);
    grpc::Status finished = stream->Finish();
    EXPECT_TRUE(finished.ok()) << finished.error_code() << " " << finished.error_message();
    EXPECT_EQ(responses.size(), requests.size());
    return responses;
  }
};

// Both qatlab services, health and both reflection services, to a caller
// with no token on a server that requires one; the request comes back.
TEST_F(ReflectionTest, V1ListsEveryRegisteredServiceWithoutAToken) {
  reflection::ServerReflectionRequest request = ListServices();
  request.set_host("reflection-test-host");
  std::vector<reflection::ServerReflectionResponse> responses = AskV1({request});
  ASSERT_EQ(responses.size(), 1u);
  const reflection::ServerReflectionResponse& response = responses[0];
  ASSERT_TRUE(response.has_list_services_response()) << response.DebugString();
  EXPECT_EQ(ServiceNames(response),
            (std::vector<std::string>{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                                      "grpc.reflection.v1alpha.ServerReflection", "qatlab.v1.ExperimentService",
                                      "qatlab.v1.WorkerService"}));
  EXPECT_EQ(response.original_request().SerializeAsString(), request.SerializeAsString());
  EXPECT_EQ(response.valid_host(), "reflection-test-host");
}

TEST_F(ReflectionTest, V1alphaAnswersAsV1Does) {
  std::vector<reflection::ServerReflectionRequest> requests = {ListServices()};
  for (const std::string& service : ServiceNames(AskV1({ListServices()})[0])) {
    requests.push_back(FileContainingSymbol(service));
  }
  requests.push_back(FileContainingSymbol("qatlab.v1.NoSuchService"));
  std::vector<reflection::ServerReflectionResponse> v1 = AskV1(requests);
  ASSERT_EQ(v1.size(), requests.size());
  // One stream per v1alpha request: gRPC 1.51's v1alpha builds each answer
  // on the previous one, so on a shared stream a file answer also carries
  // the files of every earlier file answer.
  std::vector<reflection::ServerReflectionResponse> v1alpha;
  for (const reflection::ServerReflectionRequest& request : requests) {
    std::vector<reflection::ServerReflectionResponse> answer = AskV1alpha({request});
    ASSERT_EQ(answer.size(), 1u);
    v1alpha.push_back(answer[0]);
  }
  EXPECT_EQ(ServiceNames(v1alpha[0]), ServiceNames(v1[0]));
  EXPECT_EQ(ServiceNames(v1[0]).size(), 5u);
  for (size_t i = 1; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].file_containing_symbol());
    EXPECT_EQ(v1[i].message_response_case(), v1alpha[i].message_response_case());
    EXPECT_EQ(v1[i].error_response().error_code(), v1alpha[i].error_response().error_code());
    // The same files in the same order, each the same bytes.
    EXPECT_EQ(std::vector<std::string>(v1[i].file_descriptor_response().file_descriptor_proto().begin(),
                                       v1[i].file_descriptor_response().file_descriptor_proto().end()),
              std::vector<std::string>(v1alpha[i].file_descriptor_response().file_descriptor_proto().begin(),
                                       v1alpha[i].file_descriptor_response().file_descriptor_proto().end()));
  }
  // Our services and both reflection services are described (health is
  // not a protobuf-generated service in gRPC 1.51: neither version finds it).
  for (size_t i = 1; i < requests.size(); ++i) {
    const std::string& symbol = requests[i].file_containing_symbol();
    if (symbol.rfind("qatlab.v1.", 0) == 0 && symbol != "qatlab.v1.NoSuchService") {
      EXPECT_TRUE(v1[i].has_file_descriptor_response()) << symbol;
    }
    if (symbol.rfind("grpc.reflection.", 0) == 0) {
      EXPECT_TRUE(v1[i].has_file_descriptor_response()) << symbol;
    }
  }
}

// What a tool does to call a method it has never seen: fetch the file that
// declares the service, rebuild the descriptors, find the method.
TEST_F(ReflectionTest, TheFileOfExperimentServiceRebuildsItsMethods) {
  std::vector<reflection::ServerReflectionResponse> responses =
      AskV1({FileContainingSymbol("qatlab.v1.ExperimentService")});
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_TRUE(responses[0].has_file_descriptor_response()) << responses[0].DebugString();
  std::vector<FileDescriptorProto> files = Files(responses[0]);
  ASSERT_FALSE(files.empty());

  const google::protobuf::ServiceDescriptor* ours =
      DescriptorPool::generated_pool()->FindServiceByName("qatlab.v1.ExperimentService");
  ASSERT_NE(ours, nullptr);
  EXPECT_EQ(files[0].name(), ours->file()->name());  // the declaring file first
  std::multiset<std::string> sent;
  for (const FileDescriptorProto& file : files) sent.insert(file.name());
  const std::set<std::string> closure = TransitiveClosure(ours->file());
  EXPECT_EQ(sent, std::multiset<std::string>(closure.begin(), closure.end()));  // each file once

  google::protobuf::SimpleDescriptorDatabase database;
  for (const FileDescriptorProto& file : files) ASSERT_TRUE(database.Add(file)) << file.name();
  DescriptorPool rebuilt(&database);
  const google::protobuf::ServiceDescriptor* service = rebuilt.FindServiceByName("qatlab.v1.ExperimentService");
  ASSERT_NE(service, nullptr);
  const google::protobuf::MethodDescriptor* submit = service->FindMethodByName("SubmitJob");
  ASSERT_NE(submit, nullptr);
  EXPECT_EQ(submit->input_type()->full_name(), "qatlab.v1.SubmitJobRequest");
  EXPECT_EQ(submit->output_type()->full_name(), "qatlab.v1.SubmitJobResponse");
  ASSERT_NE(submit->input_type()->FindFieldByName("spec"), nullptr);
  EXPECT_EQ(submit->input_type()->FindFieldByName("spec")->message_type()->full_name(), "qatlab.v1.JobSpec");
  ASSERT_EQ(service->method_count(), ours->method_count());
  for (int i = 0; i < ours->method_count(); ++i) {
    EXPECT_EQ(service->method(i)->full_name(), ours->method(i)->full_name());
    EXPECT_EQ(service->method(i)->server_streaming(), ours->method(i)->server_streaming());
    EXPECT_EQ(service->method(i)->client_streaming(), ours->method(i)->client_streaming());
  }
}

TEST_F(ReflectionTest, AFileByNameAndTheTypesOfAMessage) {
  reflection::ServerReflectionRequest by_name;
  by_name.set_file_by_filename("grpc/reflection/v1/reflection.proto");
  reflection::ServerReflectionRequest extensions;
  extensions.set_all_extension_numbers_of_type("qatlab.v1.JobSpec");
  std::vector<reflection::ServerReflectionResponse> responses = AskV1({by_name, extensions});
  ASSERT_EQ(responses.size(), 2u);
  std::vector<FileDescriptorProto> files = Files(responses[0]);
  ASSERT_EQ(files.size(), 1u) << responses[0].DebugString();  // it imports nothing
  EXPECT_EQ(files[0].package(), "grpc.reflection.v1");
  ASSERT_EQ(files[0].service_size(), 1);
  EXPECT_EQ(files[0].service(0).name(), "ServerReflection");

  ASSERT_TRUE(responses[1].has_all_extension_numbers_response()) << responses[1].DebugString();
  EXPECT_EQ(responses[1].all_extension_numbers_response().base_type_name(), "qatlab.v1.JobSpec");
  std::vector<const google::protobuf::FieldDescriptor*> known;
  const auto* pool = DescriptorPool::generated_pool();
  pool->FindAllExtensions(pool->FindMessageTypeByName("qatlab.v1.JobSpec"), &known);
  EXPECT_EQ(responses[1].all_extension_numbers_response().extension_number_size(), static_cast<int>(known.size()));
}

// Every unknown name is NOT_FOUND naming it, an empty request UNIMPLEMENTED,
// and the stream answers the next request as if nothing had happened.
TEST_F(ReflectionTest, UnknownNamesAreNotFoundAndTheStreamGoesOn) {
  std::vector<reflection::ServerReflectionRequest> requests;
  requests.push_back(FileContainingSymbol("qatlab.v1.NoSuchService"));
  requests.emplace_back().set_file_by_filename("qatlab/v1/no_such.proto");
  requests.emplace_back().set_all_extension_numbers_of_type("qatlab.v1.NoSuchMessage");
  requests.emplace_back().mutable_file_containing_extension()->set_containing_type("qatlab.v1.NoSuchMessage");
  reflection::ExtensionRequest* unknown_number = requests.emplace_back().mutable_file_containing_extension();
  unknown_number->set_containing_type("qatlab.v1.JobSpec");
  unknown_number->set_extension_number(4242);
  requests.push_back(FileContainingSymbol(std::string(8000, 'x')));
  requests.emplace_back();  // nothing asked
  requests.push_back(ListServices());

  std::vector<reflection::ServerReflectionResponse> responses = AskV1(requests);
  ASSERT_EQ(responses.size(), requests.size());
  const std::vector<std::string> named = {
      "symbol qatlab.v1.NoSuchService",       "file qatlab/v1/no_such.proto",
      "message type qatlab.v1.NoSuchMessage", "message type qatlab.v1.NoSuchMessage",
      "extension 4242 of qatlab.v1.JobSpec",  "symbol xxxx"};
  for (size_t i = 0; i < named.size(); ++i) {
    SCOPED_TRACE(requests[i].DebugString());
    EXPECT_EQ(responses[i].original_request().SerializeAsString(), requests[i].SerializeAsString());
    ASSERT_TRUE(responses[i].has_error_response()) << responses[i].DebugString();
    EXPECT_EQ(responses[i].error_response().error_code(), grpc::StatusCode::NOT_FOUND);
    const std::string& message = responses[i].error_response().error_message();
    EXPECT_NE(message.find(named[i]), std::string::npos) << message;
    EXPECT_NE(message.find("not found"), std::string::npos) << message;
    EXPECT_LT(message.size(), 400u);  // an 8,000-character name is cut
  }
  ASSERT_TRUE(responses[6].has_error_response());
  EXPECT_EQ(responses[6].error_response().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(ServiceNames(responses[7]).size(), 5u);
}

// The extension requests, on a pool with proto2 extensions: base.proto
// declares Base with an extension range, extra.proto extends it and imports
// base.proto, top.proto imports both (base.proto reached twice).
class ExtensionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* text : {
             R"(name: "reflection_test/base.proto" package: "reflection_test" syntax: "proto2"
                message_type { name: "Base" extension_range { start: 100 end: 200 } })",
             R"(name: "reflection_test/extra.proto" package: "reflection_test" syntax: "proto2"
                dependency: "reflection_test/base.proto"
                extension { name: "extra" number: 101 label: LABEL_OPTIONAL type: TYPE_INT32
                            extendee: ".reflection_test.Base" }
                extension { name: "more" number: 150 label: LABEL_OPTIONAL type: TYPE_STRING
                            extendee: ".reflection_test.Base" })",
             R"(name: "reflection_test/top.proto" package: "reflection_test" syntax: "proto2"
                dependency: "reflection_test/base.proto" dependency: "reflection_test/extra.proto"
                message_type { name: "Top" })",
         }) {
      FileDescriptorProto file;
      ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file)) << text;
      ASSERT_NE(pool_.BuildFile(file), nullptr) << file.name();
    }
  }

  reflection::ServerReflectionResponse Ask(const reflection::ServerReflectionRequest& request) {
    return AnswerReflectionRequest(request, pool_, {});
  }

  static std::vector<std::string> FileNames(const reflection::ServerReflectionResponse& response) {
    std::vector<std::string> names;
    for (const FileDescriptorProto& file : Files(response)) names.push_back(file.name());
    return names;
  }

  DescriptorPool pool_;
};

TEST_F(ExtensionPoolTest, AllExtensionNumbersOfAType) {
  reflection::ServerReflectionRequest request;
  request.set_all_extension_numbers_of_type("reflection_test.Base");
  reflection::ServerReflectionResponse response = Ask(request);
  ASSERT_TRUE(response.has_all_extension_numbers_response()) << response.DebugString();
  EXPECT_EQ(response.all_extension_numbers_response().base_type_name(), "reflection_test.Base");
  std::vector<int> numbers(response.all_extension_numbers_response().extension_number().begin(),
                           response.all_extension_numbers_response().extension_number().end());
  std::sort(numbers.begin(), numbers.end());
  EXPECT_EQ(numbers, (std::vector<int>{101, 150}));
}

TEST_F(ExtensionPoolTest, TheFileContainingAnExtensionComesWithItsImports) {
  reflection::ServerReflectionRequest request;
  request.mutable_file_containing_extension()->set_containing_type("reflection_test.Base");
  request.mutable_file_containing_extension()->set_extension_number(150);
  EXPECT_EQ(FileNames(Ask(request)),
            (std::vector<std::string>{"reflection_test/extra.proto", "reflection_test/base.proto"}));

  request.mutable_file_containing_extension()->set_extension_number(102);  // in the range, not declared
  reflection::ServerReflectionResponse missing = Ask(request);
  EXPECT_EQ(missing.error_response().error_code(), grpc::StatusCode::NOT_FOUND) << missing.DebugString();
}

TEST_F(ExtensionPoolTest, AFileReachedTwiceIsSentOnce) {
  reflection::ServerReflectionRequest request;
  request.set_file_by_filename("reflection_test/top.proto");
  EXPECT_EQ(FileNames(Ask(request)),
            (std::vector<std::string>{"reflection_test/top.proto", "reflection_test/base.proto",
                                      "reflection_test/extra.proto"}));
  // An extension is a symbol too.
  EXPECT_EQ(FileNames(Ask(FileContainingSymbol("reflection_test.extra"))),
            (std::vector<std::string>{"reflection_test/extra.proto", "reflection_test/base.proto"}));
}

}  // namespace
}  // namespace qatlab::server::testing
