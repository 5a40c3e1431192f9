#include "engine/hessian_trace.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "engine/layers.h"
#include "engine/split_mix64.h"

namespace qatlab {
namespace {

// Streams of their own, so the images drawn do not depend on the probes.
constexpr uint64_t kImageStream = 0x4845535349414e31ULL;  // "HESSIAN1"
constexpr uint64_t kProbeStream = 0x4845535349414e32ULL;  // "HESSIAN2"

// A weighted layer's weights and their gradient, as the optimizer sees them.
struct WeightBlock {
  int layer = 0;
  ParameterRef weights;
};

std::vector<WeightBlock> WeightBlocks(Network* net) {
  std::vector<WeightBlock> blocks;
  for (int i = 0; i < net->layer_count(); ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(net->layer(i));
    if (weighted == nullptr) continue;
    std::vector<ParameterRef> params;
    weighted->Parameters(&params);
    blocks.push_back({i, params.front()});  // the weights come first (WeightedLayer::Parameters)
  }
  return blocks;
}

// The gradient of the mean cross-entropy over all n images, per block, in
// double: a sum over batches of at most kBatch images, each batch's
// gradient weighted by its share of the images.
void Gradient(Network* net, const std::vector<WeightBlock>& blocks, const float* images, const int32_t* labels, int n,
              std::vector<std::vector<double>>* gradient) {
  gradient->resize(blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) (*gradient)[b].assign(blocks[b].weights.size, 0.0);
  const size_t sample = net->activation_shape(0).size();
  Tensor grad_logits;
  for (int begin = 0; begin < n; begin += HessianSettings::kBatch) {
    const int count = std::min(HessianSettings::kBatch, n - begin);
    const Tensor& logits = net->Forward(images + static_cast<size_t>(begin) * sample, count, true);
    SoftmaxCrossEntropy(logits, labels + begin, &grad_logits);
    const float share = static_cast<float>(count) / static_cast<float>(n);
    for (float& g : grad_logits.data) g *= share;
    net->Backward(grad_logits);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const float* g = blocks[b].weights.grad;
      std::vector<double>& sum = (*gradient)[b];
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += g[i];
    }
  }
}

double RootMeanSquare(const float* values, size_t count) {
  double sum = 0;
  for (size_t i = 0; i < count; ++i) sum += static_cast<double>(values[i]) * values[i];
  return count == 0 ? 0.0 : std::sqrt(sum / static_cast<double>(count));
}

}  // namespace

void BakeBatchNorms(Network* net) {
  for (int i = 0; i + 1 < net->layer_count(); ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(net->layer(i));
    auto* bn = dynamic_cast<BatchNormLayer*>(net->layer(i + 1));
    if (weighted == nullptr || bn == nullptr) continue;
    weighted->FoldBatchNorm(bn);
    weighted->RefreshEffectiveWeights(false);
    std::copy(weighted->effective_weights().begin(), weighted->effective_weights().end(), weighted->weights().begin());
    std::copy(weighted->effective_bias().begin(), weighted->effective_bias().end(), weighted->bias().begin());
    // The fold factor gamma / sqrt(var + eps) is then x / x = 1 exactly (the
    // same float operations), and the folded bias beta + (b - mean) * 1 = b.
    for (size_t c = 0; c < bn->gamma.size(); ++c) {
      bn->gamma[c] = std::sqrt(bn->running_var[c] + bn->epsilon());
      bn->beta[c] = 0.0f;
      bn->running_mean[c] = 0.0f;
    }
  }
  // A training forward would move the running statistics (and the factor).
  net->FreezeBatchNorm(true);
}

std::vector<LayerTrace> EstimateWeightHessianTraces(Network* net, const float* images, const int32_t* labels, int n,
                                                    int probes, uint64_t seed, double relative_step) {
  const std::vector<WeightBlock> blocks = WeightBlocks(net);
  std::vector<FloatBuffer> original(blocks.size());
  std::vector<double> step(blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) {
    const ParameterRef& w = blocks[b].weights;
    original[b].assign(w.value, w.value + w.size);
    step[b] = relative_step * std::max(RootMeanSquare(w.value, w.size), 1e-12);
  }
  SplitMix64 random{seed ^ kProbeStream};
  std::vector<std::vector<int8_t>> v(blocks.size());
  std::vector<std::vector<double>> plus, minus;
  std::vector<double> sum(blocks.size(), 0.0), sum_sq(blocks.size(), 0.0);
  auto set_weights = [&](double sign) {
    for (size_t b = 0; b < blocks.size(); ++b) {
      float* w = blocks[b].weights.value;
      const float delta = static_cast<float>(sign * step[b]);
      for (size_t i = 0; i < v[b].size(); ++i) w[i] = original[b][i] + delta * v[b][i];
    }
  };
  for (int p = 0; p < probes; ++p) {
    for (size_t b = 0; b < blocks.size(); ++b) {
      v[b].resize(blocks[b].weights.size);
      uint64_t bits = 0;
      for (size_t i = 0; i < v[b].size(); ++i) {
        if (i % 64 == 0) bits = random.Next();
        v[b][i] = (bits >> (i % 64)) & 1 ? 1 : -1;
      }
    }
    set_weights(+1.0);
    Gradient(net, blocks, images, labels, n, &plus);
    set_weights(-1.0);
    Gradient(net, blocks, images, labels, n, &minus);
    for (size_t b = 0; b < blocks.size(); ++b) {
      double estimate = 0;
      for (size_t i = 0; i < v[b].size(); ++i) estimate += v[b][i] * (plus[b][i] - minus[b][i]);
      estimate /= 2 * step[b];
      sum[b] += estimate;
      sum_sq[b] += estimate * estimate;
    }
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    std::copy(original[b].begin(), original[b].end(), blocks[b].weights.value);
  }

  std::vector<LayerTrace> traces(blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) {
    LayerTrace& t = traces[b];
    t.layer = blocks[b].layer;
    t.parameters = static_cast<int64_t>(blocks[b].weights.size);
    t.trace = sum[b] / probes;
    if (probes > 1) {
      const double variance = std::max(0.0, (sum_sq[b] - probes * t.trace * t.trace) / (probes - 1));
      t.standard_error = std::sqrt(variance / probes);
    }
  }
  return traces;
}

StatusOr<std::vector<double>> WeightQuantizationErrors(Network& float_net, Network& folded, int bits) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> quantized, float_net.Clone());
  QuantizationSettings settings;
  settings.weight_bits.assign(quantized->weighted_layer_count(), bits);
  settings.weight_method = RangeMethod::kMinMax;
  settings.low_bit_weight_method = RangeMethod::kMse;  // as QAT sets it (engine/experiment.cc)
  quantized->EnableQuantization(settings);
  std::vector<double> errors;
  for (int i = 0; i < quantized->layer_count(); ++i) {
    auto* q = dynamic_cast<WeightedLayer*>(quantized->layer(i));
    if (q == nullptr) continue;
    auto* w = dynamic_cast<WeightedLayer*>(folded.layer(i));
    const FloatBuffer& rounded = q->effective_weights();
    double error = 0;
    for (size_t k = 0; k < rounded.size(); ++k) {
      const double d = static_cast<double>(rounded[k]) - w->weights()[k];
      error += d * d;
    }
    errors.push_back(error);
  }
  return errors;
}

StatusOr<std::vector<v1::LayerHessian>> MeasureLayerHessians(Network& float_net, const Dataset& train,
                                                             const HessianSettings& settings) {
  if (float_net.quantized()) return Status::FailedPrecondition("the Hessian trace needs the float model");
  if (train.size() == 0) return Status::InvalidArgument("the Hessian trace needs training images; the set is empty");
  if (settings.probes < 1) return Status::InvalidArgument("the Hessian trace needs at least one probe");
  if (!(settings.relative_step > 0)) return Status::InvalidArgument("the Hessian trace needs a positive step");

  // The images: a draw without replacement (a partial Fisher-Yates shuffle),
  // so a set stored ordered by class still gives a mixed batch.
  const int n = std::min(std::max(settings.samples, 1), train.size());
  std::vector<int> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 random{settings.seed ^ kImageStream};
  for (int i = 0; i < n; ++i) {
    const int j = i + static_cast<int>(random.Next() % static_cast<uint64_t>(train.size() - i));
    std::swap(order[i], order[j]);
  }
  const size_t sample = train.sample_size();
  FloatBuffer images(static_cast<size_t>(n) * sample);
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) {
    train.ImageAsFloats(order[i], images.data() + static_cast<size_t>(i) * sample);
    labels[i] = train.labels[order[i]];
  }

  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> net, float_net.Clone());
  BakeBatchNorms(net.get());  // also the folded weights the quantization errors are measured against
  const std::vector<LayerTrace> traces = EstimateWeightHessianTraces(
      net.get(), images.data(), labels.data(), n, settings.probes, settings.seed, settings.relative_step);
  std::vector<v1::LayerHessian> result(traces.size());
  for (size_t l = 0; l < traces.size(); ++l) {
    result[l].set_weighted_layer(static_cast<int>(l));
    result[l].set_layer(traces[l].layer);
    result[l].set_parameters(traces[l].parameters);
    result[l].set_trace(traces[l].trace);
    result[l].set_trace_standard_error(traces[l].standard_error);
  }
  for (int bits : kHessianWidths) {
    QATLAB_ASSIGN_OR_RETURN(const std::vector<double> errors, WeightQuantizationErrors(float_net, *net, bits));
    for (size_t l = 0; l < traces.size(); ++l) {
      const double omega = traces[l].trace / static_cast<double>(traces[l].parameters) * errors[l];
      if (bits == 2) result[l].set_omega_w2(omega);
      if (bits == 4) result[l].set_omega_w4(omega);
      if (bits == 8) result[l].set_omega_w8(omega);
    }
  }
  return result;
}

}  // namespace qatlab
