// Client-streaming uploads (UploadArtifact, UploadDataset): one header
// message, then the bytes in chunk messages.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "digest/sha256.h"
#include "qatlab/v1/worker.pb.h"

namespace qatlab {

// The header of an UploadArtifact call for `bytes`: the job and its lease,
// the artifact's name, and the true sha256 and size of the bytes.
inline v1::UploadArtifactRequest ArtifactUploadHeader(const std::string& job_id, const std::string& lease_id,
                                                      const std::string& name, std::string_view bytes) {
  v1::UploadArtifactRequest header;
  header.mutable_header()->set_job_id(job_id);
  header.mutable_header()->set_lease_id(lease_id);
  header.mutable_header()->set_name(name);
  header.mutable_header()->set_sha256(Sha256Hex(bytes));
  header.mutable_header()->set_size(static_cast<int64_t>(bytes.size()));
  return header;
}

// Writes `header`, then `bytes` in messages of at most `chunk_bytes` each
// (Request::set_chunk), stopping early once the server has ended the stream;
// then half-closes and returns the call's status. REQUIRES: chunk_bytes > 0.
template <typename Request>
grpc::Status UploadInChunks(grpc::ClientWriter<Request>& writer, const Request& header, std::string_view bytes,
                            size_t chunk_bytes) {
  bool open = writer.Write(header);
  for (size_t offset = 0; open && offset < bytes.size(); offset += chunk_bytes) {
    Request chunk;
    chunk.set_chunk(std::string(bytes.substr(offset, chunk_bytes)));
    open = writer.Write(chunk);
  }
  writer.WritesDone();
  return writer.Finish();
}

}  // namespace qatlab
