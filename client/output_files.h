// How qatctl puts what it downloads on disk: never a half-written file, never
// a silently replaced one. Contents are written under a temporary name beside
// the target (same directory, so the same file system) and renamed into place
// once complete; an existing target is refused unless the caller allows
// replacing it (qatctl's --force). An error removes the temporary.
#pragma once

#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab {

// AlreadyExists (naming `path` and --force) when `path` exists and
// `overwrite` is false: checked before a download starts, so a refused
// command costs no transfer. MoveIntoPlace checks again atomically.
Status CheckOutputFree(const std::string& path, bool overwrite);

// A name beside `path` for its contents while they are written: hidden, and
// unique to this process.
std::string TemporaryPathBeside(const std::string& path);

// Renames `temporary` (a file or a directory) to `path`. Without
// `overwrite` an existing `path` is refused (AlreadyExists) atomically
// (renameat2 RENAME_NOREPLACE); with it, `path` is replaced, a directory only
// once the new one is in place. On failure `temporary` is removed.
Status MoveIntoPlace(const std::string& temporary, const std::string& path, bool overwrite);

// One file of a directory written by WriteDirectory.
struct OutputFile {
  std::string name;  // a plain file name: no directories
  std::string contents;
};

// `contents` as the file `path`, through a temporary and MoveIntoPlace.
Status WriteFileAtomically(const std::string& path, const std::string& contents, bool overwrite);

// `files` as the directory `path` (created with exactly these files), through
// a temporary directory and MoveIntoPlace. InvalidArgument for a file name
// that is empty, "." or "..", or holds a '/'.
Status WriteDirectoryAtomically(const std::string& path, const std::vector<OutputFile>& files, bool overwrite);

}  // namespace qatlab
