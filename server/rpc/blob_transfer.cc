#include "server/rpc/blob_transfer.h"

#include <algorithm>
#include <cctype>

#include "digest/sha256.h"
#include "server/rpc/grpc_status.h"

namespace qatlab::server {

Status CheckUploadHeader(const std::string& sha256, int64_t size, int64_t max_bytes, UploadAnnouncement* out) {
  std::string lower = sha256;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!IsSha256Hex(lower)) {
    return Status::InvalidArgument(
        fmt::format("header.sha256: '{}' is not a sha256 digest (64 hex characters)", sha256.substr(0, 80)));
  }
  if (size < 0) return Status::InvalidArgument(fmt::format("header.size: {} is negative", size));
  if (size > max_bytes) {
    return Status::ResourceExhausted(
        fmt::format("header.size: {} bytes exceeds the upload size limit of {} bytes", size, max_bytes));
  }
  out->sha256 = lower;
  out->size = size;
  return Status::Ok();
}

StatusOr<std::string> CheckReceivedUpload(std::string bytes, const UploadAnnouncement& announced) {
  const auto size = static_cast<int64_t>(bytes.size());
  if (size == 0) return Status::InvalidArgument("empty upload: no bytes received");
  if (announced.size > 0 && size != announced.size) {
    return Status::InvalidArgument(
        fmt::format("upload incomplete: {} bytes received, the header announced {}", size, announced.size));
  }
  const std::string digest = Sha256Hex(bytes);
  if (digest != announced.sha256) {
    return Status::InvalidArgument(fmt::format(
        "upload corrupt: the bytes received have sha256 {}, the header announced {}", digest, announced.sha256));
  }
  return bytes;
}

grpc::Status SendBlob(const ArtifactStore& store, const std::string& sha256, const std::string& name, int64_t size,
                      grpc::ServerContext* context, grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  // Checked before the first byte goes out, so a damaged blob is refused
  // rather than half-sent; ReadChunks checks again while streaming, for a
  // blob damaged in between.
  if (Status verified = store.Verify(sha256); !verified.ok()) {
    if (verified.code() == StatusCode::kNotFound) return ToGrpcStatus(Status::Corruption(verified.message()));
    return ToGrpcStatus(verified);
  }
  bool first = true;
  bool broken = false;
  Status read = store.ReadChunks(sha256, kDownloadChunkBytes, [&](std::string_view piece) {
    if (context->IsCancelled()) {
      broken = true;
      return false;
    }
    v1::ArtifactChunk chunk;
    chunk.set_data(piece.data(), piece.size());
    if (first) {
      chunk.set_name(name);
      chunk.set_sha256(sha256);
      chunk.set_size(size);
      first = false;
    }
    if (!writer->Write(chunk)) {
      broken = true;
      return false;
    }
    return true;
  });
  if (!read.ok()) {
    // A blob the database knows but the disk lost is data loss, not absence.
    if (read.code() == StatusCode::kNotFound) return ToGrpcStatus(Status::Corruption(read.message()));
    return ToGrpcStatus(read);
  }
  if (broken) return ToGrpcStatus(Status::Cancelled("download stream broken by the client"));
  return grpc::Status::OK;
}

}  // namespace qatlab::server
