// Random lowercase base32 tokens: the ids of jobs, devices and measurements,
// the lease ids that are a holder's capability, and the worker token the
// server makes for its own local workers. Drawn from OpenSSL's RAND_bytes
// (a CSPRNG seeded by the operating system): a lease id or a token cannot be
// predicted from the ids a caller has seen. The one generator of secret ids.
//
// Thread-safety: any thread (RAND_bytes is thread-safe; no lock is taken, so
// a store may draw a token while it holds its own lock and the database's).
#pragma once

#include <openssl/rand.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace qatlab::server {

// `length` characters of [a-z2-7]: 5 random bits each.
inline std::string RandomToken(size_t length) {
  static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::vector<unsigned char> bytes(length);
  if (length > 0 && RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Never hand out a capability from a generator that failed.
    std::fputs("qatlab: RAND_bytes failed: no secure random source\n", stderr);
    std::abort();
  }
  std::string token;
  token.reserve(length);
  for (unsigned char byte : bytes) token.push_back(kBase32[byte & 31]);  // 256 % 32 == 0: unbiased
  return token;
}

// The generator a store holds; kept as a class so stores can be handed one.
class RandomTokens {
 public:
  RandomTokens() = default;
  RandomTokens(const RandomTokens&) = delete;
  RandomTokens& operator=(const RandomTokens&) = delete;

  // `length` characters of [a-z2-7].
  std::string Next(size_t length) { return RandomToken(length); }
};

}  // namespace qatlab::server
