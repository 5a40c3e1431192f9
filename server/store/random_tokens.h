// Random lowercase base32 tokens: the ids of jobs, devices and measurements
// and the lease ids that are a holder's capability. Not secret keys (the
// generator is a seeded mt19937_64), only unguessable enough that two rows or
// two leases never share one by accident.
//
// Thread-safety: Next may be called from any thread; the generator has a lock
// of its own that is never held while waiting for anything else, so a store
// may draw a token while it holds its own lock and the database's.
#pragma once

#include <cstddef>
#include <mutex>
#include <random>
#include <string>

namespace qatlab::server {

class RandomTokens {
 public:
  RandomTokens() : random_(std::random_device{}()) {}
  RandomTokens(const RandomTokens&) = delete;
  RandomTokens& operator=(const RandomTokens&) = delete;

  // `length` characters of [a-z2-7].
  std::string Next(size_t length) {
    static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
    std::string token;
    token.reserve(length);
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < length; ++i) token.push_back(kBase32[random_() % 32]);
    return token;
  }

 private:
  std::mutex mutex_;
  std::mt19937_64 random_;  // guarded by mutex_
};

}  // namespace qatlab::server
