// Moving blobs over gRPC streams: receiving a client-streamed upload (header
// first, then chunks) into the ArtifactStore, and sending a stored blob as a
// stream of 64 KiB ArtifactChunks. Shared by both services.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>

#include <fmt/format.h>

#include <string>

#include "qatlab/v1/experiment.pb.h"
#include "server/store/artifact_store.h"
#include "status/status.h"

namespace qatlab::server {

inline constexpr size_t kDownloadChunkBytes = 64 * 1024;

// What an upload header announced, after checking.
struct UploadAnnouncement {
  std::string sha256;  // lowercase hex
  int64_t size = 0;    // 0: not announced
};

// Checks the header's sha256 and size fields. `max_bytes` is the server limit.
Status CheckUploadHeader(const std::string& sha256, int64_t size, int64_t max_bytes, UploadAnnouncement* out);

// Reads the chunks that follow the header from `reader` into a new blob.
// Returns the stored blob's sha256; on any failure nothing is stored.
// `Request` is UploadDatasetRequest or UploadArtifactRequest (oneof part {
// header, chunk }).
template <typename Request>
StatusOr<std::string> ReceiveUploadBody(grpc::ServerReader<Request>* reader, ArtifactStore& store,
                                        const UploadAnnouncement& announced, int64_t max_bytes,
                                        int64_t* received_bytes) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer,
                          store.BeginWrite(announced.sha256, announced.size, max_bytes));
  Request request;
  int64_t index = 0;
  while (reader->Read(&request)) {
    ++index;
    if (request.part_case() != Request::kChunk) {
      return Status::InvalidArgument(
          fmt::format("message {} of the upload is not a chunk (header only comes first)", index));
    }
    QATLAB_RETURN_IF_ERROR(writer->Append(request.chunk()));
  }
  *received_bytes = writer->bytes_written();
  return writer->Finish();
}

// The size and digest check of ReceiveUploadInMemory.
StatusOr<std::string> CheckReceivedUpload(std::string bytes, const UploadAnnouncement& announced);

// Reads the chunks that follow the header from `reader` into memory, for a
// file the server must check before it stores anything (an uploaded model).
// Returns the bytes once their size and sha256 match the announcement
// (InvalidArgument otherwise; ResourceExhausted past `max_bytes`).
template <typename Request>
StatusOr<std::string> ReceiveUploadInMemory(grpc::ServerReader<Request>* reader, const UploadAnnouncement& announced,
                                            int64_t max_bytes) {
  std::string bytes;
  Request request;
  int64_t index = 0;
  while (reader->Read(&request)) {
    ++index;
    if (request.part_case() != Request::kChunk) {
      return Status::InvalidArgument(
          fmt::format("message {} of the upload is not a chunk (header only comes first)", index));
    }
    if (static_cast<int64_t>(bytes.size() + request.chunk().size()) > max_bytes) {
      return Status::ResourceExhausted(fmt::format("upload exceeds the size limit of {} bytes", max_bytes));
    }
    bytes += request.chunk();
  }
  return CheckReceivedUpload(std::move(bytes), announced);
}

// Streams blob `sha256` as ArtifactChunks; the first carries name, sha256, size.
grpc::Status SendBlob(const ArtifactStore& store, const std::string& sha256, const std::string& name, int64_t size,
                      grpc::ServerContext* context, grpc::ServerWriter<v1::ArtifactChunk>* writer);

}  // namespace qatlab::server
