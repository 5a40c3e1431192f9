// Helpers the server tests share: temp directories and small JobSpecs.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "qatlab/v1/job.pb.h"

namespace qatlab::server::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("qatlab-server-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A valid small job: the cnn preset, one w8a8 config.
inline v1::JobSpec SmallSpec(const std::string& experiment = "test", int priority = 0) {
  v1::JobSpec spec;
  spec.set_experiment(experiment);
  spec.mutable_model()->set_preset("cnn");
  spec.mutable_training()->set_epochs(1);
  spec.set_priority(priority);
  spec.set_max_attempts(3);
  return spec;
}

}  // namespace qatlab::server::testing
