// Client-streaming uploads (UploadArtifact, UploadDataset): one header
// message, then the bytes in chunk messages.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace qatlab {

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
