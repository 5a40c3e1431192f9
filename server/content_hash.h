// SHA-256 over a byte stream (OpenSSL's EVP, which gRPC already links).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace qatlab::server {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The lowercase hex digest. Call once; the object is spent afterwards.
  std::string FinishHex();

  static std::string HexOf(std::string_view bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 64 lowercase hex characters.
bool IsSha256Hex(std::string_view text);

}  // namespace qatlab::server
