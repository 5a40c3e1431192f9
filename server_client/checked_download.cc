#include "server_client/checked_download.h"

#include "digest/sha256.h"
#include "server_client/rpc_status.h"

namespace qatlab {

StatusOr<ReceivedBlob> ReceiveChecked(grpc::ClientContext& context,
                                      grpc::ClientReaderInterface<v1::ArtifactChunk>& reader, const DownloadSink& sink,
                                      const std::string& what, const std::string& address) {
  ReceivedBlob blob;
  v1::ArtifactChunk chunk;
  if (!reader.Read(&chunk)) {
    grpc::Status status = reader.Finish();
    if (status.ok()) return Status::Unavailable(what + ": the server sent nothing");
    return FromRpcStatus(status, what, address);
  }
  blob.announced.sha256 = chunk.sha256();
  blob.announced.size = chunk.size();
  if (sink.begin && !sink.begin(blob.announced)) {
    context.TryCancel();
    reader.Finish().ok();  // the CANCELLED this reports is ours
    blob.taken = false;
    return blob;
  }
  Sha256 digest;
  Status appended;
  do {
    if (!appended.ok()) continue;  // drain the stream, keep the first error
    digest.Update(chunk.data());
    blob.size += static_cast<int64_t>(chunk.data().size());
    appended = sink.append(chunk.data());
  } while (reader.Read(&chunk));
  QATLAB_RETURN_IF_ERROR(FromRpcStatus(reader.Finish(), what, address));
  QATLAB_RETURN_IF_ERROR(appended.WithContext(what));
  blob.sha256 = digest.FinishHex();
  if (blob.announced.size >= 0 && blob.size != blob.announced.size) {
    return Status::Corruption(what + ": received " + std::to_string(blob.size) + " bytes, the server announced " +
                              std::to_string(blob.announced.size));
  }
  if (!blob.announced.sha256.empty() && blob.sha256 != blob.announced.sha256) {
    return Status::Corruption(what + ": content has sha256 " + blob.sha256 + ", the server announced " +
                              blob.announced.sha256);
  }
  return blob;
}

}  // namespace qatlab
