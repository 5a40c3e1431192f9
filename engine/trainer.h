// The training loop and evaluation of a Network on a Dataset.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/network.h"

namespace qatlab {

// One epoch's figures (what a job's result reports per epoch).
struct EpochRecord {
  std::string variant;
  int epoch = 0;  // 1-based
  int epochs = 0;
  double loss = 0;
  double train_accuracy = 0;  // percent
  double test_accuracy = 0;   // percent; final only at the end of an epoch
  double seconds = 0;
};

// What Train reports after every batch and every epoch.
struct TrainingProgress {
  // loss and train_accuracy so far in this epoch; test_accuracy and seconds
  // are final only when end_of_epoch.
  EpochRecord stats;
  bool end_of_epoch = false;
  int batch = 0;           // batches done in this epoch
  int batches = 0;         // batches per epoch
  double eta_seconds = 0;  // estimate for the rest of this training
};

// Returns false to cancel training. Keep it cheap.
using TrainingProgressCallback = std::function<bool(const TrainingProgress&)>;

struct TrainingPlan {
  std::string variant;  // reported in progress events
  std::string optimizer = "adam";
  double learning_rate = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0;
  int batch_size = 64;
  int epochs = 10;
  std::string schedule = "constant";
  int step_epochs = 0;
  double step_gamma = 0.1;
  uint64_t seed = 1;               // drives the per-epoch shuffle
  int freeze_observers_epoch = 0;  // 1-based; 0: never
  int freeze_bn_epoch = 0;
};

// Trains `net` for plan.epochs, shuffling the training set each epoch with a
// seeded Fisher-Yates; evaluates on `test` after every epoch and appends one
// EpochRecord per epoch to `history`. Returns Cancelled as soon as
// `progress` returns false (called after every batch and every epoch).
// A batch whose loss is not finite (the training diverged) ends training
// before that batch's update, with the only FailedPrecondition Train returns
// (IsTrainingDivergence): "diverged at epoch E, batch B: loss is nan; try a
// lower learning rate"; `history` then holds the epochs completed before it.
Status Train(Network* net, const Dataset& train, const Dataset& test, const TrainingPlan& plan,
             const TrainingProgressCallback& progress, std::vector<EpochRecord>* history);

// Whether `status`, returned by Train, says the training diverged.
bool IsTrainingDivergence(const Status& status);

// Accuracy in percent; `predictions` (optional) receives the argmax per image
// (first index on ties).
double Evaluate(Network* net, const Dataset& data, std::vector<int32_t>* predictions);

// Runs `samples` images of `data` (the first ones, in order) through the
// network's calibration pass.
void Calibrate(Network* net, const Dataset& data, int samples, RangeMethod method, double percentile);

}  // namespace qatlab
