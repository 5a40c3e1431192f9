#include "engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "engine/optimizer.h"
#include "engine/split_mix64.h"

namespace qatlab {
namespace {

constexpr int kEvaluationBatch = 250;
// Every batch: a callback returning false stops training within one batch.
constexpr int kProgressEveryBatches = 1;

int ArgMax(const float* values, int count) {
  int best = 0;
  for (int i = 1; i < count; ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One message for a non-finite loss, wherever it appears.
Status Divergence(int epoch, int batch, double loss) {
  return Status::FailedPrecondition("diverged at epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch) +
                                    ": loss is " + (std::isnan(loss) ? "nan" : "inf") + "; try a lower learning rate");
}

}  // namespace

bool IsTrainingDivergence(const Status& status) { return status.code() == StatusCode::kFailedPrecondition; }

double Evaluate(Network* net, const Dataset& data, std::vector<int32_t>* predictions) {
  if (predictions != nullptr) predictions->assign(data.size(), 0);
  int correct = 0;
  const int classes = net->num_classes();
  // The data set holds its pixels as they came (bytes, mostly): each batch
  // is converted to floats here.
  FloatBuffer batch_images(static_cast<size_t>(std::min(kEvaluationBatch, data.size())) * data.sample_size());
  for (int begin = 0; begin < data.size(); begin += kEvaluationBatch) {
    const int n = std::min(kEvaluationBatch, data.size() - begin);
    data.ImagesAsFloats(begin, n, batch_images.data());
    const Tensor& logits = net->Forward(batch_images.data(), n, false);
    for (int i = 0; i < n; ++i) {
      const int predicted = ArgMax(logits.sample(i), classes);
      if (predicted == data.labels[begin + i]) ++correct;
      if (predictions != nullptr) (*predictions)[begin + i] = predicted;
    }
  }
  return data.size() == 0 ? 0.0 : 100.0 * correct / data.size();
}

void Calibrate(Network* net, const Dataset& data, int samples, RangeMethod method, double percentile) {
  samples = std::min(samples, data.size());
  net->BeginCalibration(samples);
  FloatBuffer batch_images(static_cast<size_t>(std::min(kEvaluationBatch, samples)) * data.sample_size());
  for (int begin = 0; begin < samples; begin += kEvaluationBatch) {
    const int n = std::min(kEvaluationBatch, samples - begin);
    data.ImagesAsFloats(begin, n, batch_images.data());
    net->Forward(batch_images.data(), n, false);
  }
  net->EndCalibration(method, percentile);
}

Status Train(Network* net, const Dataset& train, const Dataset& test, const TrainingPlan& plan,
             const TrainingProgressCallback& progress, std::vector<EpochRecord>* history) {
  auto optimizer = MakeOptimizer(plan.optimizer, plan.momentum, plan.weight_decay);
  if (!optimizer) return Status::InvalidArgument("unknown optimizer '" + plan.optimizer + "'");
  std::vector<ParameterRef> params;
  net->Parameters(&params);
  const int samples = train.size();
  const int batch = std::max(1, plan.batch_size);
  const int batches = (samples + batch - 1) / batch;
  const int sample_size = train.sample_size();
  const int classes = net->num_classes();
  std::vector<int> order(samples);
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 random{plan.seed};
  FloatBuffer batch_images(static_cast<size_t>(batch) * sample_size);
  std::vector<int32_t> batch_labels(batch);
  Tensor grad_logits;
  const auto training_start = std::chrono::steady_clock::now();

  for (int epoch = 0; epoch < plan.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    if (plan.freeze_observers_epoch > 0 && epoch + 1 >= plan.freeze_observers_epoch) net->FreezeObservers(true);
    if (plan.freeze_bn_epoch > 0 && epoch + 1 >= plan.freeze_bn_epoch) net->FreezeBatchNorm(true);
    for (int i = samples - 1; i > 0; --i) {
      const int j = static_cast<int>(random.Next() % static_cast<uint64_t>(i + 1));
      std::swap(order[i], order[j]);
    }
    const double learning_rate =
        ScheduledLearningRate(plan.schedule, plan.learning_rate, epoch, plan.epochs, plan.step_epochs, plan.step_gamma);
    double loss_sum = 0;
    int correct = 0, seen = 0;
    for (int b = 0; b < batches; ++b) {
      const int begin = b * batch;
      const int n = std::min(batch, samples - begin);
      for (int i = 0; i < n; ++i) {
        const int index = order[begin + i];
        train.ImageAsFloats(index, batch_images.data() + static_cast<size_t>(i) * sample_size);
        batch_labels[i] = train.labels[index];
      }
      const Tensor& logits = net->Forward(batch_images.data(), n, true);
      const double batch_loss = SoftmaxCrossEntropy(logits, batch_labels.data(), &grad_logits);
      // Past a non-finite loss every weight the update touches turns nan:
      // stop with the place it happened rather than train on garbage.
      if (!std::isfinite(batch_loss)) return Divergence(epoch + 1, b + 1, batch_loss);
      loss_sum += batch_loss * n;
      for (int i = 0; i < n; ++i) correct += ArgMax(logits.sample(i), classes) == batch_labels[i] ? 1 : 0;
      seen += n;
      net->ZeroGradients();
      net->Backward(grad_logits);
      optimizer->Step(params, learning_rate);

      if (progress && (b + 1) % kProgressEveryBatches == 0 && b + 1 < batches) {
        TrainingProgress event;
        event.stats.variant = plan.variant;
        event.stats.epoch = epoch + 1;
        event.stats.epochs = plan.epochs;
        event.stats.loss = loss_sum / seen;
        event.stats.train_accuracy = 100.0 * correct / seen;
        event.stats.seconds = SecondsSince(epoch_start);
        event.batch = b + 1;
        event.batches = batches;
        const double done = epoch + static_cast<double>(b + 1) / batches;
        event.eta_seconds = SecondsSince(training_start) / done * (plan.epochs - done);
        if (!progress(event))
          return Status::Cancelled(plan.variant + ": cancelled in epoch " + std::to_string(epoch + 1));
      }
    }
    const double test_accuracy = Evaluate(net, test, nullptr);
    EpochRecord stats;
    stats.variant = plan.variant;
    stats.epoch = epoch + 1;
    stats.epochs = plan.epochs;
    stats.loss = seen > 0 ? loss_sum / seen : 0.0;
    stats.train_accuracy = seen > 0 ? 100.0 * correct / seen : 0.0;
    stats.test_accuracy = test_accuracy;
    stats.seconds = SecondsSince(epoch_start);
    if (history != nullptr) history->push_back(stats);
    if (progress) {
      TrainingProgress event;
      event.stats = stats;
      event.end_of_epoch = true;
      event.batch = batches;
      event.batches = batches;
      event.eta_seconds = SecondsSince(training_start) / (epoch + 1) * (plan.epochs - epoch - 1);
      if (!progress(event))
        return Status::Cancelled(plan.variant + ": cancelled after epoch " + std::to_string(epoch + 1));
    }
  }
  return Status::Ok();
}

}  // namespace qatlab
