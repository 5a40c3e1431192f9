// SHA-256 digests as lower-case hex, over OpenSSL's libcrypto. Artifacts and
// data sets are named by their digest on the server and in the worker's cache,
// every transfer is checked against the digest its header announced, and the
// MNIST-10k cache is checked against known sums.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "status/status.h"

namespace qatlab {

// Incremental digest for streamed transfers. Not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything passed to Update. REQUIRES: called once; the
  // object is spent afterwards.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view bytes);

// The digest of a file's contents, read in chunks; IOError when it cannot be
// opened or read.
StatusOr<std::string> Sha256OfFile(const std::string& path);

// True for 64 lower-case hex characters.
bool IsSha256Hex(std::string_view text);

}  // namespace qatlab
