// A content-addressed file store: each blob lives at
// <root>/blobs/<first 2 hex>/<sha256>, written atomically (temp file in
// <root>/tmp, fsync, rename, fsync of the directory), so a reader never sees a
// partial file and a crash leaves at most a stray temp file (removed at open).
//
// This class owns files only; which job or data set refers to a blob is
// recorded in the database by the JobStore.
// Thread-safety: all methods may be called concurrently; writers of the same
// content race harmlessly (same bytes, atomic rename).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "digest/sha256.h"
#include "status/status.h"

namespace qatlab::server {

class BlobWriter;

// Low-level helpers for ReadChunks below. ReadSome fills `buffer` (its size is
// the capacity) and shrinks it to what was read (empty at end of file).
Status ReadSome(int fd, std::string* buffer);
void CloseFd(int fd);

class ArtifactStore {
 public:
  // Creates <root>/blobs and <root>/tmp as needed; clears leftovers in tmp.
  static StatusOr<std::unique_ptr<ArtifactStore>> Open(const std::string& root);

  // Starts writing a blob whose announced digest and size are `expected_sha256`
  // (64 lowercase hex) and `expected_size`; `max_bytes` bounds what is accepted.
  StatusOr<std::unique_ptr<BlobWriter>> BeginWrite(const std::string& expected_sha256, int64_t expected_size,
                                                   int64_t max_bytes);

  bool Contains(const std::string& sha256) const;
  std::string PathOf(const std::string& sha256) const;

  // Reads the whole blob and checks that its bytes still have its digest:
  // Corruption (DATA_LOSS) when they do not (damaged or cut short on disk),
  // NotFound when the file is gone.
  Status Verify(const std::string& sha256) const;

  // Calls `consume` with successive pieces of at most `chunk_bytes` of the
  // blob; stops early (returning OK) when `consume` returns false. The bytes
  // are hashed as they are read: having read them all, returns Corruption
  // when they do not have the digest `sha256` (what was passed on is then
  // damaged, and the caller must say so).
  template <typename Consume>
  Status ReadChunks(const std::string& sha256, size_t chunk_bytes, Consume&& consume) const;

  // Whole-blob read, for tests and small files.
  StatusOr<std::string> ReadAll(const std::string& sha256) const;

 private:
  explicit ArtifactStore(std::string root) : root_(std::move(root)) {}
  friend class BlobWriter;
  Status OpenForRead(const std::string& sha256, int* fd) const;

  const std::string root_;
};

// Receives the bytes of one blob. Destroying an unfinished writer removes its
// temp file, so an aborted or rejected upload stores nothing.
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // ResourceExhausted once more than max_bytes arrived; IOError on disk errors.
  Status Append(std::string_view bytes);
  // Checks size and digest (InvalidArgument on mismatch, nothing stored),
  // then makes the blob visible. Returns the digest.
  StatusOr<std::string> Finish();
  int64_t bytes_written() const { return written_; }

 private:
  friend class ArtifactStore;
  BlobWriter(const ArtifactStore& store, std::string temp_path, int fd, std::string expected_sha256,
             int64_t expected_size, int64_t max_bytes);

  const ArtifactStore& store_;
  std::string temp_path_;
  int fd_;
  std::string expected_sha256_;
  int64_t expected_size_;
  int64_t max_bytes_;
  int64_t written_ = 0;
  Sha256 hash_;
  bool finished_ = false;
};

template <typename Consume>
Status ArtifactStore::ReadChunks(const std::string& sha256, size_t chunk_bytes, Consume&& consume) const {
  int fd = -1;
  QATLAB_RETURN_IF_ERROR(OpenForRead(sha256, &fd));
  std::string buffer(chunk_bytes, '\0');
  Status status;
  Sha256 hash;
  bool complete = false;
  while (true) {
    Status read = ReadSome(fd, &buffer);
    if (!read.ok()) {
      status = read;
      break;
    }
    if (buffer.empty()) {
      complete = true;
      break;
    }
    hash.Update(buffer);
    if (!consume(std::string_view(buffer))) break;
    buffer.resize(chunk_bytes);
  }
  CloseFd(fd);
  if (complete && hash.FinishHex() != sha256) {
    return Status::Corruption("blob " + sha256 + " in " + root_ +
                              " no longer has its sha256 (damaged or cut short on disk)");
  }
  return status;
}

}  // namespace qatlab::server
