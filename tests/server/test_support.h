// What the server tests share beyond tests/support: small JobSpecs.
#pragma once

#include <string>

#include "qatlab/v1/job.pb.h"

namespace qatlab::server::testing {

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
