// Files only the server's user may read: the data directory (0700), the
// database (0600) and the worker token of the local workers (0600). The
// database holds every job spec and result; the token is a capability.
#pragma once

#include <string>

#include "status/status.h"

namespace qatlab::server {

// Creates `path` (and missing parents) when it does not exist; the
// directory itself is created 0700. An existing directory is left as it is,
// with a warning when others may enter it. IOError naming the path otherwise.
Status CreatePrivateDirectory(const std::string& path);

// Creates an empty `path` with mode 0600 when it does not exist (SQLite
// gives its -wal and -shm files the database's mode). An existing file is
// left as it is.
Status CreatePrivateFileIfMissing(const std::string& path);

// Writes `contents` to `path`, mode 0600 whatever was there before.
Status WritePrivateFile(const std::string& path, const std::string& contents);

}  // namespace qatlab::server
