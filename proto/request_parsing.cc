#include "proto/request_parsing.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/impl/codegen/proto_buffer_reader.h>
#include <grpcpp/impl/codegen/proto_buffer_writer.h>

#include <set>
#include <string>

namespace qatlab::v1 {
namespace {

// The full names of the request types of every method of our services.
const std::set<std::string>& RequestTypeNames() {
  static const std::set<std::string> names = [] {
    std::set<std::string> found;
    const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const char* service_name : {"qatlab.v1.ExperimentService", "qatlab.v1.WorkerService"}) {
      const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(service_name);
      for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
        found.insert(service->method(i)->input_type()->full_name());
      }
    }
    return found;
  }();
  return names;
}

}  // namespace

grpc::Status SerializeMessage(const grpc::protobuf::MessageLite& message, grpc::ByteBuffer* buffer, bool* own_buffer) {
  return grpc::GenericSerialize<grpc::ProtoBufferWriter, grpc::protobuf::MessageLite>(message, buffer, own_buffer);
}

grpc::Status ParseMessage(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* message) {
  const bool is_request = RequestTypeNames().count(message->GetTypeName()) > 0;
  if (buffer == nullptr) {
    if (is_request) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the call carried no " + message->GetTypeName());
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "No payload");
  }
  bool parsed = false;
  {
    grpc::ProtoBufferReader reader(buffer);
    if (!reader.status().ok()) return reader.status();
    parsed = message->ParseFromZeroCopyStream(&reader);
  }
  buffer->Clear();
  if (parsed) return grpc::Status::OK;
  if (!is_request) return grpc::Status(grpc::StatusCode::INTERNAL, message->InitializationErrorString());
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "the request is not a valid " + message->GetTypeName() +
                          " message (malformed protobuf bytes, or a string field that is not UTF-8)");
}

}  // namespace qatlab::v1
