#include "client/output_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace qatlab {
namespace {

namespace fs = std::filesystem;

Status Exists(const std::string& path) {
  return Status::AlreadyExists(fmt::format("{} already exists; pass --force to replace it", path));
}

void RemoveQuietly(const std::string& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

Status WriteOneFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return Status::IOError(fmt::format("cannot write {}", path.string()));
  return Status::Ok();
}

}  // namespace

Status CheckOutputFree(const std::string& path, bool overwrite) {
  std::error_code error;
  if (!overwrite && fs::exists(fs::symlink_status(path, error))) return Exists(path);
  return Status::Ok();
}

std::string TemporaryPathBeside(const std::string& path) {
  fs::path target(path);
  std::string name = target.filename().string();
  if (name.empty()) name = "output";
  return (target.parent_path() / fmt::format(".{}.partial-{}", name, ::getpid())).string();
}

Status MoveIntoPlace(const std::string& temporary, const std::string& path, bool overwrite) {
  if (!overwrite) {
    if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return Status::Ok();
    const int error = errno;
    RemoveQuietly(temporary);
    if (error == EEXIST) return Exists(path);
    return Status::IOError(fmt::format("cannot write {}: {}", path, std::strerror(error)));
  }
  std::error_code error;
  if (fs::is_directory(fs::symlink_status(path, error))) {
    // A directory cannot be renamed over a non-empty one: move the old one
    // aside first, so `path` is never missing the old or the new contents
    // for longer than between two renames.
    const std::string aside = TemporaryPathBeside(path) + ".old";
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      const int e = errno;
      RemoveQuietly(temporary);
      return Status::IOError(fmt::format("cannot replace {}: {}", path, std::strerror(e)));
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
      const int e = errno;
      ::rename(aside.c_str(), path.c_str());
      RemoveQuietly(temporary);
      return Status::IOError(fmt::format("cannot write {}: {}", path, std::strerror(e)));
    }
    RemoveQuietly(aside);
    return Status::Ok();
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int e = errno;
    RemoveQuietly(temporary);
    return Status::IOError(fmt::format("cannot write {}: {}", path, std::strerror(e)));
  }
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, const std::string& contents, bool overwrite) {
  QATLAB_RETURN_IF_ERROR(CheckOutputFree(path, overwrite));
  const std::string temporary = TemporaryPathBeside(path);
  if (Status written = WriteOneFile(temporary, contents); !written.ok()) {
    RemoveQuietly(temporary);
    return written;
  }
  return MoveIntoPlace(temporary, path, overwrite);
}

Status WriteDirectoryAtomically(const std::string& path, const std::vector<OutputFile>& files, bool overwrite) {
  for (const OutputFile& file : files) {
    if (file.name.empty() || file.name == "." || file.name == ".." || file.name.find('/') != std::string::npos) {
      return Status::InvalidArgument(fmt::format("refusing to write a file named '{}' into {}", file.name, path));
    }
  }
  QATLAB_RETURN_IF_ERROR(CheckOutputFree(path, overwrite));
  const std::string temporary = TemporaryPathBeside(path);
  RemoveQuietly(temporary);
  std::error_code error;
  fs::create_directory(temporary, error);
  if (error) return Status::IOError(fmt::format("cannot create {}: {}", temporary, error.message()));
  for (const OutputFile& file : files) {
    if (Status written = WriteOneFile(fs::path(temporary) / file.name, file.contents); !written.ok()) {
      RemoveQuietly(temporary);
      return written;
    }
  }
  return MoveIntoPlace(temporary, path, overwrite);
}

}  // namespace qatlab
