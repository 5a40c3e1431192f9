#include "engine/optimizer.h"

#include <algorithm>
#include <cmath>

namespace qatlab {
namespace {

class Adam final : public Optimizer {
 public:
  explicit Adam(double weight_decay) : weight_decay_(weight_decay) {}
  void Step(const std::vector<ParameterRef>& params, double learning_rate) override {
    if (first_.empty()) {
      for (const auto& p : params) {
        first_.emplace_back(p.size, 0.0f);
        second_.emplace_back(p.size, 0.0f);
      }
    }
    ++step_;
    const double correction1 = 1.0 - std::pow(kBeta1, step_);
    const double correction2 = 1.0 - std::pow(kBeta2, step_);
    const float step_size = static_cast<float>(learning_rate / correction1);
    const float root_correction2 = static_cast<float>(std::sqrt(correction2));
    for (size_t k = 0; k < params.size(); ++k) {
      const ParameterRef& p = params[k];
      float* m = first_[k].data();
      float* v = second_[k].data();
      const float decay = p.decay ? static_cast<float>(weight_decay_) : 0.0f;
      for (size_t i = 0; i < p.size; ++i) {
        const float g = p.grad[i] + decay * p.value[i];
        m[i] = kBeta1 * m[i] + (1.0f - kBeta1) * g;
        v[i] = kBeta2 * v[i] + (1.0f - kBeta2) * g * g;
        p.value[i] -= step_size * m[i] / (std::sqrt(v[i]) / root_correction2 + kEpsilon);
        p.value[i] = std::max(p.value[i], p.min_value);
      }
    }
  }

 private:
  static constexpr float kBeta1 = 0.9f;
  static constexpr float kBeta2 = 0.999f;
  static constexpr float kEpsilon = 1e-8f;
  double weight_decay_;
  int step_ = 0;
  std::vector<std::vector<float>> first_, second_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(double momentum, double weight_decay) : momentum_(momentum), weight_decay_(weight_decay) {}
  void Step(const std::vector<ParameterRef>& params, double learning_rate) override {
    if (velocity_.empty()) {
      for (const auto& p : params) velocity_.emplace_back(p.size, 0.0f);
    }
    const float lr = static_cast<float>(learning_rate);
    const float mu = static_cast<float>(momentum_);
    for (size_t k = 0; k < params.size(); ++k) {
      const ParameterRef& p = params[k];
      float* v = velocity_[k].data();
      const float decay = p.decay ? static_cast<float>(weight_decay_) : 0.0f;
      for (size_t i = 0; i < p.size; ++i) {
        const float g = p.grad[i] + decay * p.value[i];
        v[i] = mu * v[i] + g;
        p.value[i] = std::max(p.value[i] - lr * v[i], p.min_value);
      }
    }
  }

 private:
  double momentum_, weight_decay_;
  std::vector<std::vector<float>> velocity_;
};

}  // namespace

std::unique_ptr<Optimizer> MakeOptimizer(const std::string& name, double momentum, double weight_decay) {
  if (name == "adam") return std::make_unique<Adam>(weight_decay);
  if (name == "sgd") return std::make_unique<Sgd>(momentum, weight_decay);
  return nullptr;
}

double ScheduledLearningRate(const std::string& schedule, double base, int epoch, int epochs, int step_epochs,
                             double step_gamma) {
  if (schedule == "step" && step_epochs > 0) return base * std::pow(step_gamma, epoch / step_epochs);
  if (schedule == "cosine" && epochs > 0) return base * 0.5 * (1.0 + std::cos(M_PI * epoch / epochs));
  return base;
}

}  // namespace qatlab
