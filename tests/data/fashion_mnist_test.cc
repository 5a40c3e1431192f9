// Fashion-MNIST as a built-in source: the Debian package's four gzipped IDX
// files load as 60,000 + 10,000 28x28 images of 10 balanced classes, and a
// machine without the package gets an error that names it.
#include "data/fashion_mnist.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <string>

#include "data/dataset.h"
#include "qatlab/v1/job.pb.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

v1::DataSpec FashionMnistSpec() {
  v1::DataSpec spec;
  spec.set_source("fashion-mnist");
  return spec;
}

TEST(FashionMnist, LoadsTheWholePackageAsSixtyThousandAndTenThousandBalancedImages) {
  unsetenv("QATLAB_FASHION_MNIST_DIR");
  if (!CheckFashionMnist(FashionMnistDir()).ok()) {
    GTEST_SKIP() << "the Debian package " << kFashionMnistPackage << " is not installed (scripts/install_deps.sh)";
  }

  StatusOr<DatasetPair> pair = LoadDataset(FashionMnistSpec(), "");

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->name, "fashion-mnist");
  EXPECT_EQ(pair->train.size(), 60000);
  EXPECT_EQ(pair->test.size(), 10000);
  for (const Dataset* set : {&pair->train, &pair->test}) {
    EXPECT_EQ(set->height, 28);
    EXPECT_EQ(set->width, 28);
    EXPECT_EQ(set->channels, 1);
    EXPECT_EQ(set->num_classes, 10);
    EXPECT_TRUE(set->has_pixels());
    std::array<int, 10> per_class{};
    for (int32_t label : set->labels) ++per_class.at(label);
    for (int count : per_class) EXPECT_EQ(count, set->size() / 10);
  }
}

TEST(FashionMnist, LimitsKeepTheFirstSamples) {
  unsetenv("QATLAB_FASHION_MNIST_DIR");
  if (!CheckFashionMnist(FashionMnistDir()).ok()) {
    GTEST_SKIP() << "the Debian package " << kFashionMnistPackage << " is not installed (scripts/install_deps.sh)";
  }
  v1::DataSpec limited = FashionMnistSpec();
  limited.set_train_limit(1000);
  limited.set_test_limit(200);

  StatusOr<DatasetPair> whole = LoadDataset(FashionMnistSpec(), "");
  StatusOr<DatasetPair> part = LoadDataset(limited, "");

  ASSERT_TRUE(whole.ok() && part.ok());
  ASSERT_EQ(part->train.size(), 1000);
  ASSERT_EQ(part->test.size(), 200);
  EXPECT_EQ(part->train.pixels,
            std::vector<uint8_t>(whole->train.pixels.begin(), whole->train.pixels.begin() + 1000 * 784));
  EXPECT_EQ(part->test.labels, std::vector<int32_t>(whole->test.labels.begin(), whole->test.labels.begin() + 200));
}

TEST(FashionMnist, MissingFilesNameTheDebianPackage) {
  test_support::TempDir empty;
  setenv("QATLAB_FASHION_MNIST_DIR", empty.path().c_str(), 1);

  StatusOr<DatasetPair> pair = LoadDataset(FashionMnistSpec(), "");

  unsetenv("QATLAB_FASHION_MNIST_DIR");
  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.status().code(), StatusCode::kNotFound);
  EXPECT_NE(pair.status().message().find(empty.File("train-images-idx3-ubyte.gz") + " is missing"), std::string::npos)
      << pair.status().message();
  EXPECT_NE(pair.status().message().find("install the Debian package dataset-fashion-mnist"), std::string::npos)
      << pair.status().message();
}

}  // namespace
}  // namespace qatlab
