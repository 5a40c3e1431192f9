// Optimizers over a network's parameters and the learning-rate schedules.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/layers/layer.h"

namespace qatlab {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter from its gradient. `params` must list the
  // same arrays in the same order at every call.
  virtual void Step(const std::vector<ParameterRef>& params, double learning_rate) = 0;
};

// Adam (beta1 0.9, beta2 0.999, eps 1e-8) or SGD with (heavy-ball) momentum;
// weight_decay adds L2 to the gradients of weights (not biases or scales).
// Returns nullptr for an unknown name.
std::unique_ptr<Optimizer> MakeOptimizer(const std::string& name, double momentum, double weight_decay);

// The learning rate of epoch `epoch` (0-based) of `epochs`:
//   constant: base; step: base * gamma^(epoch / step_epochs);
//   cosine: base * (1 + cos(pi * epoch / epochs)) / 2.
double ScheduledLearningRate(const std::string& schedule, double base, int epoch, int epochs, int step_epochs,
                             double step_gamma);

}  // namespace qatlab
