// A temporary directory for one test: created fresh and unique under $TMPDIR
// (or /tmp), removed with everything in it when the TempDir goes. Tests that
// need files (databases, logs, scripts, caches) make one per test, so that
// tests never see each other's files and leave nothing behind.
#pragma once

#include <string>

namespace qatlab::test_support {

class TempDir {
 public:
  // Fails the calling test (ADD_FAILURE) when the directory cannot be made;
  // path() is then empty.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name; the file need not exist.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The contents of a file (a child's log, a command's output file); empty
// when it does not exist.
std::string ReadWholeFile(const std::string& path);

}  // namespace qatlab::test_support
