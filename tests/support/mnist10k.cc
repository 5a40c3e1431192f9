#include "tests/support/mnist10k.h"

#include <gtest/gtest.h>

#include <utility>

#include "engine/job_spec.h"
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

v1::JobSpec ShortQatSpec(const std::string& preset, const std::vector<int>& weight_bits, int calibration_samples) {
  v1::JobSpec spec;
  spec.mutable_model()->set_preset(preset);
  spec.mutable_training()->set_epochs(1);
  spec.mutable_training()->set_batch_size(32);
  spec.mutable_training()->set_learning_rate(2e-3);
  spec.mutable_qat()->set_epochs(1);
  spec.mutable_qat()->set_learning_rate(2e-4);
  spec.mutable_ptq()->set_calibration_samples(calibration_samples);
  for (int bits : weight_bits) spec.add_configs()->set_weight_bits(bits);
  ApplyJobSpecDefaults(&spec);
  return spec;
}

}  // namespace qatlab::test_support
