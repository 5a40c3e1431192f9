#include "server/store/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace qatlab::server {

namespace fs = std::filesystem;

namespace {

Status Errno(const std::string& what) { return Status::IOError(fmt::format("{}: {}", what, std::strerror(errno))); }

Status FsyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open directory " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync directory " + dir);
  return Status::Ok();
}

std::string UniqueTempName() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 random(std::random_device{}());
  return fmt::format("{}-{}-{:016x}.part", ::getpid(), counter++, random());
}

}  // namespace

Status ReadSome(int fd, std::string* buffer) {
  size_t filled = 0;
  while (filled < buffer->size()) {
    ssize_t n = ::read(fd, buffer->data() + filled, buffer->size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read blob");
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  buffer->resize(filled);
  return Status::Ok();
}

void CloseFd(int fd) { ::close(fd); }

StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "blobs", ec);
  if (ec) return Status::IOError(fmt::format("cannot create {}/blobs: {}", root, ec.message()));
  fs::create_directories(fs::path(root) / "tmp", ec);
  if (ec) return Status::IOError(fmt::format("cannot create {}/tmp: {}", root, ec.message()));
  // Temp files are only ever half-written uploads of a previous run.
  for (const auto& entry : fs::directory_iterator(fs::path(root) / "tmp", ec)) fs::remove(entry.path(), ec);
  return std::unique_ptr<ArtifactStore>(new ArtifactStore(root));
}

std::string ArtifactStore::PathOf(const std::string& sha256) const {
  return (fs::path(root_) / "blobs" / sha256.substr(0, 2) / sha256).string();
}

bool ArtifactStore::Contains(const std::string& sha256) const {
  if (!IsSha256Hex(sha256)) return false;
  std::error_code ec;
  return fs::is_regular_file(PathOf(sha256), ec);
}

Status ArtifactStore::OpenForRead(const std::string& sha256, int* fd) const {
  if (!IsSha256Hex(sha256)) return Status::InvalidArgument(fmt::format("'{}' is not a sha256 hex digest", sha256));
  *fd = ::open(PathOf(sha256).c_str(), O_RDONLY | O_CLOEXEC);
  if (*fd < 0) {
    if (errno == ENOENT) return Status::NotFound(fmt::format("blob {} is not in the artifact store", sha256));
    return Errno("open blob " + sha256);
  }
  return Status::Ok();
}

StatusOr<std::string> ArtifactStore::ReadAll(const std::string& sha256) const {
  std::string all;
  Status s = ReadChunks(sha256, 1 << 16, [&](std::string_view piece) {
    all.append(piece);
    return true;
  });
  if (!s.ok()) return s;
  return all;
}

Status ArtifactStore::Verify(const std::string& sha256) const {
  return ReadChunks(sha256, 1 << 16, [](std::string_view) { return true; });
}

StatusOr<std::unique_ptr<BlobWriter>> ArtifactStore::BeginWrite(const std::string& expected_sha256,
                                                                int64_t expected_size, int64_t max_bytes) {
  std::string temp_path = (fs::path(root_) / "tmp" / UniqueTempName()).string();
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + temp_path);
  return std::unique_ptr<BlobWriter>(
      new BlobWriter(*this, std::move(temp_path), fd, expected_sha256, expected_size, max_bytes));
}

BlobWriter::BlobWriter(const ArtifactStore& store, std::string temp_path, int fd, std::string expected_sha256,
                       int64_t expected_size, int64_t max_bytes)
    : store_(store),
      temp_path_(std::move(temp_path)),
      fd_(fd),
      expected_sha256_(std::move(expected_sha256)),
      expected_size_(expected_size),
      max_bytes_(max_bytes) {}

BlobWriter::~BlobWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(temp_path_.c_str());
}

Status BlobWriter::Append(std::string_view bytes) {
  if (finished_ || fd_ < 0) return Status::FailedPrecondition("blob writer already finished");
  if (written_ + static_cast<int64_t>(bytes.size()) > max_bytes_) {
    return Status::ResourceExhausted(fmt::format("upload exceeds the size limit of {} bytes", max_bytes_));
  }
  hash_.Update(bytes);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write " + temp_path_);
    }
    done += static_cast<size_t>(n);
  }
  written_ += static_cast<int64_t>(bytes.size());
  return Status::Ok();
}

StatusOr<std::string> BlobWriter::Finish() {
  if (finished_ || fd_ < 0) return Status::FailedPrecondition("blob writer already finished");
  if (written_ == 0) return Status::InvalidArgument("empty upload: no bytes received");
  if (expected_size_ > 0 && written_ != expected_size_) {
    return Status::InvalidArgument(
        fmt::format("size mismatch: header.size says {} bytes, received {}", expected_size_, written_));
  }
  std::string actual = hash_.FinishHex();
  if (actual != expected_sha256_) {
    return Status::InvalidArgument(
        fmt::format("sha256 mismatch: header.sha256 is {}, received bytes hash to {}", expected_sha256_, actual));
  }
  if (::fsync(fd_) != 0) return Errno("fsync " + temp_path_);
  ::close(fd_);
  fd_ = -1;
  std::string final_path = store_.PathOf(actual);
  std::string dir = fs::path(final_path).parent_path().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(fmt::format("cannot create {}: {}", dir, ec.message()));
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) return Errno("rename into " + final_path);
  finished_ = true;
  QATLAB_RETURN_IF_ERROR(FsyncDirectory(dir));
  return actual;
}

}  // namespace qatlab::server
