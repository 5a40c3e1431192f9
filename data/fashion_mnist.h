// Fashion-MNIST, the second built-in data set (source "fashion-mnist"):
// 60,000 training and 10,000 test images of clothes, 28x28 grey, 10 classes,
// as Debian's dataset-fashion-mnist package installs them: four gzipped IDX
// files, read compressed by LoadIdx. Unlike MNIST-10k nothing is fetched: the
// package is installed like any other dependency (scripts/install_deps.sh).
#pragma once

#include <array>
#include <string>

#include "status/status.h"

namespace qatlab {

// Where the package puts the files.
inline constexpr const char* kFashionMnistPackageDir = "/usr/share/datasets/fashion-mnist";

// The Debian package that holds them, named in the error when they are missing.
inline constexpr const char* kFashionMnistPackage = "dataset-fashion-mnist";

// train images (60000x28x28), train labels, test images (10000x28x28), test
// labels, in that order.
extern const std::array<const char*, 4> kFashionMnistFiles;

// The directory holding the four files: $QATLAB_FASHION_MNIST_DIR when set
// (tests, or a copy elsewhere), else kFashionMnistPackageDir.
std::string FashionMnistDir();

// Ok when `directory` holds the four files; else NotFound naming the first
// missing file and the package that installs it
// ("... install the Debian package dataset-fashion-mnist (apt-get install
// dataset-fashion-mnist) ...").
Status CheckFashionMnist(const std::string& directory);

}  // namespace qatlab
