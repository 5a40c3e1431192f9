#include "server/rpc/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "status/printable_value.h"

namespace qatlab::server {

Status CreatePrivateDirectory(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path directory(path);
  if (std::filesystem::is_directory(directory, ec)) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      spdlog::warn("data directory {} has mode {:04o}: others may read the database; chmod 700 {}",
                   PrintableValue(path), info.st_mode & 07777, PrintableValue(path));
    }
    return Status::Ok();
  }
  if (directory.has_parent_path()) std::filesystem::create_directories(directory.parent_path(), ec);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IOError(
        fmt::format("cannot create data directory {}: {}", PrintableValue(path), std::strerror(errno)));
  }
  // mkdir's mode passes through the umask; 0700 must not depend on it.
  if (::chmod(path.c_str(), 0700) != 0) {
    return Status::IOError(
        fmt::format("cannot chmod data directory {}: {}", PrintableValue(path), std::strerror(errno)));
  }
  return Status::Ok();
}

Status CreatePrivateFileIfMissing(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return Status::IOError(fmt::format("cannot create {}: {}", PrintableValue(path), std::strerror(errno)));
  }
  ::close(fd);
  return Status::Ok();
}

Status WritePrivateFile(const std::string& path, const std::string& contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError(fmt::format("cannot write {}: {}", PrintableValue(path), std::strerror(errno)));
  // An older file keeps its mode through O_CREAT: set it.
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  const int saved = errno;
  ::close(fd);
  if (!ok) return Status::IOError(fmt::format("cannot write {}: {}", PrintableValue(path), std::strerror(saved)));
  return Status::Ok();
}

}  // namespace qatlab::server
