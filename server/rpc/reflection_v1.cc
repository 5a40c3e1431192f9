#include "server/rpc/reflection_v1.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <unordered_set>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace reflection = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

namespace {

// Appends `file` and, depth first, the files it imports, skipping any
// already in `sent`: a file shared by two imports goes out once.
void AddFileAndDependencies(const FileDescriptor* file, std::unordered_set<std::string>* sent,
                            reflection::FileDescriptorResponse* out) {
  if (!sent->insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) AddFileAndDependencies(file->dependency(i), sent, out);
}

grpc::Status FileAnswer(const FileDescriptor* file, reflection::ServerReflectionResponse* response) {
  std::unordered_set<std::string> sent;
  AddFileAndDependencies(file, &sent, response->mutable_file_descriptor_response());
  return grpc::Status::OK;
}

grpc::Status NotFound(const std::string& what, const std::string& name) {
  return {grpc::StatusCode::NOT_FOUND, fmt::format("{} {}: not found", what, PrintableValue(name))};
}

grpc::Status Answer(const reflection::ServerReflectionRequest& request, const DescriptorPool& pool,
                    const std::vector<std::string>& services, reflection::ServerReflectionResponse* response) {
  using Kind = reflection::ServerReflectionRequest::MessageRequestCase;
  switch (request.message_request_case()) {
    case Kind::kFileByFilename: {
      const FileDescriptor* file = pool.FindFileByName(request.file_by_filename());
      if (file == nullptr) return NotFound("file", request.file_by_filename());
      return FileAnswer(file, response);
    }
    case Kind::kFileContainingSymbol: {
      const FileDescriptor* file = pool.FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) return NotFound("symbol", request.file_containing_symbol());
      return FileAnswer(file, response);
    }
    case Kind::kFileContainingExtension: {
      const reflection::ExtensionRequest& wanted = request.file_containing_extension();
      const google::protobuf::Descriptor* type = pool.FindMessageTypeByName(wanted.containing_type());
      if (type == nullptr) return NotFound("message type", wanted.containing_type());
      const google::protobuf::FieldDescriptor* extension = pool.FindExtensionByNumber(type, wanted.extension_number());
      if (extension == nullptr) {
        return NotFound("extension", fmt::format("{} of {}", wanted.extension_number(), wanted.containing_type()));
      }
      return FileAnswer(extension->file(), response);
    }
    case Kind::kAllExtensionNumbersOfType: {
      const google::protobuf::Descriptor* type = pool.FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) return NotFound("message type", request.all_extension_numbers_of_type());
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool.FindAllExtensions(type, &extensions);
      reflection::ExtensionNumberResponse* numbers = response->mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const google::protobuf::FieldDescriptor* extension : extensions) {
        numbers->add_extension_number(extension->number());
      }
      return grpc::Status::OK;
    }
    case Kind::kListServices: {
      reflection::ListServiceResponse* listed = response->mutable_list_services_response();
      for (const std::string& service : services) listed->add_service()->set_name(service);
      return grpc::Status::OK;
    }
    case Kind::MESSAGE_REQUEST_NOT_SET: break;
  }
  // No request, or a kind newer than this file (an unknown field to us).
  return {grpc::StatusCode::UNIMPLEMENTED,
          "the request sets none of file_by_filename, file_containing_symbol, file_containing_extension, "
          "all_extension_numbers_of_type, list_services"};
}

// The service itself: one answer per request, in order, until the client
// closes its side. The service list arrives once the server has started.
class ReflectionV1Service final : public reflection::ServerReflection::Service {
 public:
  void SetServices(std::vector<std::string> services) {
    std::lock_guard lock(mutex_);
    services_ = std::move(services);
  }

  grpc::Status ServerReflectionInfo(grpc::ServerContext* /*context*/,
                                    grpc::ServerReaderWriter<reflection::ServerReflectionResponse,
                                                             reflection::ServerReflectionRequest>* stream) override {
    reflection::ServerReflectionRequest request;
    while (stream->Read(&request)) {
      std::optional<std::vector<std::string>> services = Services();
      reflection::ServerReflectionResponse response;
      if (services.has_value() || !request.has_list_services()) {
        static const std::vector<std::string> kNoServices;
        response =
            AnswerReflectionRequest(request, *DescriptorPool::generated_pool(), services ? *services : kNoServices);
      } else {
        response.set_valid_host(request.host());
        *response.mutable_original_request() = request;
        response.mutable_error_response()->set_error_code(grpc::StatusCode::UNAVAILABLE);
        response.mutable_error_response()->set_error_message("the server is still starting; ask again");
      }
      if (!stream->Write(response)) break;  // the client went away
    }
    return grpc::Status::OK;
  }

 private:
  std::optional<std::vector<std::string>> Services() {
    std::lock_guard lock(mutex_);
    return services_;
  }

  std::mutex mutex_;
  std::optional<std::vector<std::string>> services_;  // guarded by mutex_; set once started
};

// Registers the service when the server is created and hands it the list
// of registered services once it has started: the builder registers the
// default health service only in Server::Start, after every plugin's
// InitServer and before every plugin's Finish.
class ReflectionV1Plugin final : public grpc::ServerBuilderPlugin {
 public:
  std::string name() override { return "qatlab_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    if (!initializer->RegisterService(service_)) spdlog::error("could not register grpc.reflection.v1");
  }
  void Finish(grpc::ServerInitializer* initializer) override { service_->SetServices(*initializer->GetServiceList()); }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}
  bool has_sync_methods() const override { return true; }

 private:
  std::shared_ptr<ReflectionV1Service> service_ = std::make_shared<ReflectionV1Service>();
};

class ReflectionV1BuilderOption final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ReflectionV1Plugin>());
  }
};

}  // namespace

reflection::ServerReflectionResponse AnswerReflectionRequest(const reflection::ServerReflectionRequest& request,
                                                             const DescriptorPool& pool,
                                                             const std::vector<std::string>& services) {
  reflection::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  grpc::Status answered = Answer(request, pool, services, &response);
  if (!answered.ok()) {
    response.mutable_error_response()->set_error_code(answered.error_code());
    response.mutable_error_response()->set_error_message(answered.error_message());
  }
  return response;
}

std::unique_ptr<grpc::ServerBuilderOption> ReflectionV1Option() {
  return std::make_unique<ReflectionV1BuilderOption>();
}

}  // namespace qatlab::server
