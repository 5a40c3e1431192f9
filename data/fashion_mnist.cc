#include "data/fashion_mnist.h"

#include <cstdlib>
#include <filesystem>

namespace qatlab {

const std::array<const char*, 4> kFashionMnistFiles = {
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
};

std::string FashionMnistDir() {
  const char* dir = std::getenv("QATLAB_FASHION_MNIST_DIR");
  return dir != nullptr && *dir != '\0' ? dir : kFashionMnistPackageDir;
}

Status CheckFashionMnist(const std::string& directory) {
  for (const char* name : kFashionMnistFiles) {
    const std::string path = directory + "/" + name;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      return Status::NotFound(std::string("data.source fashion-mnist: ") + path +
                              " is missing; install the Debian package " + kFashionMnistPackage + " (apt-get install " +
                              kFashionMnistPackage + ", or scripts/install_deps.sh)");
    }
  }
  return Status::Ok();
}

}  // namespace qatlab
