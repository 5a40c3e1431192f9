// The training loop and evaluation of a Network on a Dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/network.h"

namespace qatlab {

struct TrainingPlan {
  std::string variant;          // reported in progress events
  std::string optimizer = "adam";
  double learning_rate = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0;
  int batch_size = 64;
  int epochs = 10;
  std::string schedule = "constant";
  int step_epochs = 0;
  double step_gamma = 0.1;
  uint64_t seed = 1;            // drives the per-epoch shuffle
  int freeze_observers_epoch = 0;  // 1-based; 0: never
  int freeze_bn_epoch = 0;
};

// Trains `net` for plan.epochs, shuffling the training set each epoch with a
// seeded Fisher-Yates; evaluates on `test` after every epoch and appends one
// EpochStats per epoch to `history`. Returns Cancelled as soon as
// `progress` returns false (called after every batch and every epoch).
Status Train(Network* net, const Dataset& train, const Dataset& test, const TrainingPlan& plan,
             const ProgressCallback& progress, std::vector<v1::EpochStats>* history);

// Accuracy in percent; `predictions` (optional) receives the argmax per image
// (first index on ties).
double Evaluate(Network* net, const Dataset& data, std::vector<int32_t>* predictions);

// Runs `samples` images of `data` (the first ones, in order) through the
// network's calibration pass.
void Calibrate(Network* net, const Dataset& data, int samples, RangeMethod method, double percentile);

}  // namespace qatlab
