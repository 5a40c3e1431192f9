// The one checked download: the server streams a blob (an artifact, a data
// set) as ArtifactChunk messages whose first one announces the blob's size
// and sha256; the receiver keeps the bytes only if both match. The agent's
// model download and the worker's data set fetch both end here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include "qatlab/v1/worker.pb.h"
#include "status/status.h"

namespace qatlab {

// What the server announced in the first chunk; an empty sha256 or a
// negative size means it announced nothing to check against.
struct BlobAnnouncement {
  std::string sha256;
  int64_t size = -1;
};

// Where the received bytes go.
struct DownloadSink {
  // Called once, before any bytes. Returning false takes nothing more (the
  // blob is already at hand, e.g. cached under its sha256): the call is
  // cancelled and ReceiveChecked returns OK with `taken` false.
  std::function<bool(const BlobAnnouncement&)> begin;
  // Called for each piece of the blob, in order.
  std::function<Status(std::string_view)> append;
};

struct ReceivedBlob {
  BlobAnnouncement announced;
  bool taken = true;
  std::string sha256;  // of the bytes received (when taken)
  int64_t size = 0;
};

// Reads `reader` (a call made with `context`) to its end into `sink`.
// Errors: the call failed (as FromRpcStatus with `what` and `address`; a stream
// that ended before its first chunk with OK reads as kUnavailable), `append`
// failed (its Status), the size or sha256 differ from the announcement
// (kCorruption). A sink that received bytes of a failed download must
// discard them.
StatusOr<ReceivedBlob> ReceiveChecked(grpc::ClientContext& context,
                                      grpc::ClientReaderInterface<v1::ArtifactChunk>& reader, const DownloadSink& sink,
                                      const std::string& what, const std::string& address = "");

}  // namespace qatlab
