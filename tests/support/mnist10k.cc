#include "tests/support/mnist10k.h"

#include <gtest/gtest.h>

#include <utility>

#include "qatlab/v1/job.pb.h"

namespace qatlab::test_support {

DatasetPair LoadMnist10k(int train_limit, int test_limit) {
  v1::DataSpec spec;
  spec.set_source("mnist");
  StatusOr<DatasetPair> loaded = LoadDataset(spec, "");
  if (!loaded.ok()) {
    ADD_FAILURE() << "MNIST-10k could not be loaded or fetched: " << loaded.status().ToString();
    return DatasetPair();
  }
  if (train_limit > 0) loaded->train.Truncate(train_limit);
  if (test_limit > 0) loaded->test.Truncate(test_limit);
  return std::move(*loaded);
}

}  // namespace qatlab::test_support
