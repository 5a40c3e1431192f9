// Requests that do not parse are INVALID_ARGUMENT, not INTERNAL.
//
// gRPC parses a request before any service code runs, through
// grpc::SerializationTraits; its protobuf version answers a parse failure
// (garbage bytes, a proto3 string field holding invalid UTF-8) with INTERNAL
// and an empty message, which blames the server for the client's bytes.
// gRPC 1.51's generated code reaches the traits two ways: unary methods
// through SerializationTraits<grpc::protobuf::MessageLite> (the generated
// handlers pass MessageLite as the base request type, to share one
// instantiation), server-streaming methods through SerializationTraits of the
// request type itself. Both get full specializations here, all forwarding to
// ParseMessage (request_parsing.cc): a message that does not parse is
// INVALID_ARGUMENT naming its type when it is the request of a method of our
// services, and gRPC's own INTERNAL otherwise (a client that cannot parse a
// reply has an internal fault, not a bad argument). Serializing is gRPC's.
//
// The one-definition rule: protoc's gRPC plugin includes this header from the
// generated experiment.grpc.pb.h and worker.grpc.pb.h (option
// additional_header_includes, proto/CMakeLists.txt), right after the messages
// and before any gRPC header that instantiates the traits, so every
// translation unit that uses our services or stubs sees the specializations.
// The MessageLite specialization also replaces gRPC's for any other message
// in a unit that includes it, with the same behaviour for those (INTERNAL and
// InitializationErrorString), so a copy of gRPC's that a unit without this
// header or a gRPC library instantiates behaves the same for them.
//
// Client-streaming requests (UploadDataset, UploadModel, UploadArtifact) are
// read by ServerReader::Read, which drops the parse status and answers false
// as at the end of the stream: those methods refuse a message that does not
// parse with their own INVALID_ARGUMENT for an incomplete upload.
//
// A new server-streaming RPC's request type must be listed below; the test
// tests/server/request_parsing_test.cc sends garbage to every method of both
// services and fails for one that answers anything but INVALID_ARGUMENT.
#pragma once

#include <grpcpp/impl/codegen/proto_utils.h>

#include "qatlab/v1/experiment.pb.h"
#include "qatlab/v1/worker.pb.h"

namespace qatlab::v1 {

// Parses `buffer` into `message` and clears the buffer; see above for the
// status of a message that does not parse.
grpc::Status ParseMessage(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* message);
grpc::Status SerializeMessage(const grpc::protobuf::MessageLite& message, grpc::ByteBuffer* buffer, bool* own_buffer);

class MessageSerializationTraits {
 public:
  static grpc::Status Serialize(const grpc::protobuf::MessageLite& message, grpc::ByteBuffer* buffer,
                                bool* own_buffer) {
    return SerializeMessage(message, buffer, own_buffer);
  }
  static grpc::Status Deserialize(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* message) {
    return ParseMessage(buffer, message);
  }
};

}  // namespace qatlab::v1

namespace grpc {
template <>
class SerializationTraits<grpc::protobuf::MessageLite, void> : public qatlab::v1::MessageSerializationTraits {};
}  // namespace grpc

#define QATLAB_REQUEST_SERIALIZATION(Request) \
  template <>                                 \
  class grpc::SerializationTraits<qatlab::v1::Request, void> : public qatlab::v1::MessageSerializationTraits {}

// ExperimentService
QATLAB_REQUEST_SERIALIZATION(SubmitJobRequest);
QATLAB_REQUEST_SERIALIZATION(GetJobRequest);  // also WorkerService
QATLAB_REQUEST_SERIALIZATION(ListJobsRequest);
QATLAB_REQUEST_SERIALIZATION(WatchJobRequest);
QATLAB_REQUEST_SERIALIZATION(CancelJobRequest);
QATLAB_REQUEST_SERIALIZATION(GetResultsRequest);
QATLAB_REQUEST_SERIALIZATION(UploadDatasetRequest);
QATLAB_REQUEST_SERIALIZATION(ListDatasetsRequest);
QATLAB_REQUEST_SERIALIZATION(DownloadArtifactRequest);  // also WorkerService
QATLAB_REQUEST_SERIALIZATION(UploadModelRequest);
QATLAB_REQUEST_SERIALIZATION(ListModelsRequest);
QATLAB_REQUEST_SERIALIZATION(ExportModelRequest);
QATLAB_REQUEST_SERIALIZATION(ListDevicesRequest);
QATLAB_REQUEST_SERIALIZATION(MeasureRequest);
QATLAB_REQUEST_SERIALIZATION(CancelMeasurementRequest);
// WorkerService
QATLAB_REQUEST_SERIALIZATION(LeaseJobRequest);
QATLAB_REQUEST_SERIALIZATION(HeartbeatRequest);
QATLAB_REQUEST_SERIALIZATION(CompleteJobRequest);
QATLAB_REQUEST_SERIALIZATION(FailJobRequest);
QATLAB_REQUEST_SERIALIZATION(UploadArtifactRequest);
QATLAB_REQUEST_SERIALIZATION(FetchDatasetRequest);
QATLAB_REQUEST_SERIALIZATION(FetchModelRequest);
QATLAB_REQUEST_SERIALIZATION(RegisterDeviceRequest);
QATLAB_REQUEST_SERIALIZATION(LeaseMeasurementRequest);
QATLAB_REQUEST_SERIALIZATION(HeartbeatMeasurementRequest);
QATLAB_REQUEST_SERIALIZATION(CompleteMeasurementRequest);
QATLAB_REQUEST_SERIALIZATION(FailMeasurementRequest);
