// SHA-256 content addresses, as lower-case hex. Artifacts and data sets are
// named by their digest on the server and in the worker's cache, and every
// transfer is checked against the digest its header announced.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace qatlab {

// Incremental digest for streamed transfers. Not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything passed to Update. REQUIRES: called once.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view bytes);

// The digest of a file's contents; IOError when it cannot be read.
StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace qatlab
