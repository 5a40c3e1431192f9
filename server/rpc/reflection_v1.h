// gRPC server reflection v1 (grpc.reflection.v1.ServerReflection, from our
// proto/grpc/reflection/v1/reflection.proto), offered beside the v1alpha
// service of gRPC's own plugin: Debian's gRPC 1.51 ships only v1alpha, and
// newer tools ask for v1 first. Both give the same answers: list_services
// names the services registered on the server (ours, health, and both
// reflection services), the file requests answer from protobuf's generated
// descriptor pool. Like v1alpha and health it needs no token: what it tells
// is the API, which the protos publish anyway, never a job or a file.
//
// A gRPC that ships v1 itself (newer than Debian 12's) registers
// grpc/reflection/v1/reflection.proto in the same generated pool; the
// process would then abort at start-up on the duplicate file, so drop this
// service when moving to such a gRPC.
#pragma once

#include <grpcpp/impl/server_builder_option.h>

#include <memory>
#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.pb.h"

namespace google::protobuf {
class DescriptorPool;
}

namespace qatlab::server {

// The answer to one reflection request, looked up in `pool`; `services` is
// what list_services lists. The answer echoes the request (original_request)
// and its host (valid_host). A file request (file_by_filename,
// file_containing_symbol, file_containing_extension) is answered with the
// file first, then every file it depends on, directly or not, each once, as
// serialized FileDescriptorProtos. An unknown file, symbol, message type or
// extension is an error_response NOT_FOUND naming it (escaped and cut, see
// status/printable_value.h); a request with no message_request set (or one
// this version does not know) is UNIMPLEMENTED. Thread-safety: any thread
// (DescriptorPool lookups are).
grpc::reflection::v1::ServerReflectionResponse AnswerReflectionRequest(
    const grpc::reflection::v1::ServerReflectionRequest& request, const google::protobuf::DescriptorPool& pool,
    const std::vector<std::string>& services);

// A ServerBuilder option (grpc::ServerBuilder::SetOption) that adds the v1
// service to the server being built, answering from the generated pool. Its
// list_services lists the services registered on that server, as v1alpha
// does, taken when the builder has started the server (in the instant
// before, list_services is UNAVAILABLE).
std::unique_ptr<grpc::ServerBuilderOption> ReflectionV1Option();

}  // namespace qatlab::server
