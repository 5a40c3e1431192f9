// A trainable model built from a list of LayerConfigs (engine/model_config.h): the layers, the
// activations between them (act 0 is the input, act i + 1 the output of
// layer i), residual adds, and — once quantization is enabled — the
// activation fake-quantizers at exactly the tensors the integer model will
// have:
//   * the input (scale 1/255, zero point -128: q = pixel - 128 exactly);
//   * the end of each fused group: a weighted layer with its batchnorm and
//     relu/relu6, or an add with its relu/relu6;
//   * average-pooling outputs, on their input's grid and computed from its
//     integers exactly as the kernel does (docs/quant-spec.md).
// Max pooling and flatten keep values on their input's grid.
#pragma once

#include <memory>
#include <vector>

#include "engine/layer_weights.h"
#include "engine/layers.h"
#include "engine/model_config.h"
#include "status/status.h"

namespace qatlab {

struct QuantizationSettings {
  std::vector<int> weight_bits;  // one per weighted layer, in order
  int activation_bits = 8;
  bool per_tensor = false;
  bool symmetric_activations = false;
  RangeMethod weight_method = RangeMethod::kMinMax;
  // For layers of 4 bits or fewer: with three (2-bit) or fifteen (4-bit)
  // levels, min-max scales waste most levels on rare large weights, so QAT
  // uses MSE-optimal clipping there.
  RangeMethod low_bit_weight_method = RangeMethod::kMinMax;
  bool freeze_weight_scales = false;  // PTQ: weights are fixed
};

class Network {
 public:
  // `layers` as TranslateLayers (engine/job_spec.h) produces them. Errors:
  // InvalidArgument when the shapes do not chain from `input`
  // (InferLayerShapes).
  static StatusOr<std::unique_ptr<Network>> Create(const std::vector<LayerConfig>& layers, const ImageShape& input,
                                                   uint64_t seed);

  // Sets the parameters and batchnorm statistics from trained values (a
  // model brought in by model_import/), replacing the seeded initialization.
  // `weights` holds one entry per layer. Errors: InvalidArgument naming the
  // first layer whose values do not have its sizes; nothing is changed then.
  // REQUIRES: quantization is not enabled.
  Status LoadWeights(const std::vector<LayerWeights>& weights);

  // Copies every parameter and statistic from `other`.
  // REQUIRES: other was created from the same layers and input.
  void CopyStateFrom(Network& other);

  // A new network of the same layers and input with this one's parameters
  // and statistics (CopyStateFrom); quantization is not copied.
  StatusOr<std::unique_ptr<Network>> Clone();

  // Runs `n` images (n * input.size() floats, HWC) and returns the logits
  // (n, 1, 1, classes). Valid until the next Forward.
  const Tensor& Forward(const float* images, int n, bool training);
  // Back-propagates dL/dlogits through the last training Forward; parameter
  // gradients are overwritten.
  void Backward(const Tensor& grad_logits);

  void Parameters(std::vector<ParameterRef>* params);
  void ZeroGradients();

  // Folds every batchnorm into its layer and installs the fake quantizers.
  // REQUIRES: settings.weight_bits.size() == weighted_layer_count().
  void EnableQuantization(const QuantizationSettings& settings);
  bool quantized() const { return quantized_; }

  // PTQ calibration: between these calls, forwards record activations
  // instead of quantizing them; the end sets every range by `method`.
  void BeginCalibration(int samples);
  void EndCalibration(RangeMethod method, double percentile);

  void FreezeObservers(bool frozen);
  // Weight scales stop following the weights (end of QAT, before the final
  // evaluation and export, so both see the same scales).
  void FreezeWeightScales();
  void FreezeBatchNorm(bool frozen);
  // LSQ: activation and weight scales become trained parameters.
  void EnableLearnedStepSize();

  int layer_count() const { return static_cast<int>(layers_.size()); }
  Layer* layer(int i) const { return layers_[i].get(); }
  const LayerConfig& layer_config(int i) const { return configs_[i]; }
  int weighted_layer_count() const;
  // Per-sample shape of act i (0: input).
  const ImageShape& activation_shape(int act) const { return shapes_[act]; }
  // The quantizer at act i, or nullptr.
  ActivationQuantizer* quantizer(int act) const { return quantizers_[act].get(); }
  // For an add layer: the act it adds to its input.
  int residual_source(int layer) const { return residual_source_[layer]; }
  int num_classes() const { return shapes_.back().size(); }

  // Weights and biases of the weighted layers (batch norms folded).
  int64_t FloatParameterCount() const;
  // Multiply-accumulates of one inference (weighted layers).
  int64_t MacCount() const;
  // Float32 activation RAM of one inference when each layer's input and
  // output are live together (the float counterpart of the integer arena).
  int64_t FloatActivationBytes() const;

 private:
  Network() = default;

  std::vector<LayerConfig> configs_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<ImageShape> shapes_;                                // layer_count + 1
  std::vector<int> residual_source_;                              // per layer, -1 unless add
  std::vector<std::unique_ptr<ActivationQuantizer>> quantizers_;  // per act
  // The quantizer whose grid each act lies on (nullptr: a fused
  // intermediate, or quantization is off).
  std::vector<ActivationQuantizer*> grid_;
  bool quantized_ = false;

  std::vector<Tensor> acts_, grads_, residual_;
  std::vector<bool> has_residual_;
};

}  // namespace qatlab
