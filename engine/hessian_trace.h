// A second-order sensitivity of each weighted layer, HAWQ-style (Dong et al.,
// HAWQ-V2 and V3): the trace of the loss Hessian with respect to the layer's
// weights, and from it the score of quantizing that layer to b bits,
//   Omega(l, b) = (Tr(H_l) / n_l) * ||Q_b(W_l) - W_l||^2,
// the second-order loss increase when the Hessian block is replaced by its
// mean eigenvalue. A configuration's score is the sum over its layers.
//
// Which weights. The Hessian is taken with respect to the FOLDED weights
// (each batch norm folded into its layer as Network::EnableQuantization and
// the exporter fold it), not the raw ones: Q_b acts on the folded weights, so
// ||Q_b(W) - W||^2 is a distance in those coordinates, and the Hessian it
// multiplies must be too (with respect to the raw weights it would differ by
// the fold factors squared, per channel). Folding also puts the network in
// evaluation mode (batch norms read their running statistics) while keeping
// the backward pass, which needs a training forward: BakeBatchNorms.
//
// The loss is the mean softmax cross-entropy over a fixed batch of training
// images, in float (no quantization).
//
// The estimate (Hutchinson): Tr(H_ll) = E[v_l^T (H v)_l] over Rademacher v
// (independent +-1 entries). One Hessian-vector product per probe serves
// every layer: v covers all the weighted layers at once, and the cross terms
// v_l^T H_lm v_m (m != l) have mean zero because v_l and v_m are independent.
// That costs one product per probe instead of one per probe and layer, at
// the price of those cross terms' variance (reported in standard_error).
//
// The Hessian-vector product is a central difference of the backward pass'
// gradients: H D v ~ (g(w + D v) - g(w - D v)) / 2, with D scaling layer l's
// block by its own step eps_l = relative_step * RMS(W_l), so every layer is
// moved by the same fraction of its weights' size whatever their scale
// (layers' RMS differ by an order of magnitude); layer l's block is divided
// by eps_l, and its cross terms are weighted by eps_m / eps_l, still mean
// zero. The default 1e-3 is small enough that the truncation error (and the
// ReLU units whose sign flips within one step) stay negligible, and large
// enough that the float32 gradients' rounding does not dominate the
// difference (tests/engine/hessian_trace_test.cc checks it against the exact
// Hessian).
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "engine/network.h"
#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

// The widths Omega is reported for, as LayerHessian.omega_w<b>.
inline constexpr int kHessianWidths[] = {2, 4, 8};

struct HessianSettings {
  int probes = 32;                    // Rademacher vectors (>= 1)
  int samples = 512;                  // training images, drawn without replacement (fewer when the set is smaller)
  uint64_t seed = 1;                  // draws the images and the probes
  double relative_step = 1e-3;        // eps_l = relative_step * RMS(W_l)
  static constexpr int kBatch = 256;  // images per forward/backward (memory)
};

// One weighted layer's trace estimate.
struct LayerTrace {
  int layer = 0;              // index in the network's layers
  int64_t parameters = 0;     // n_l: its weights (biases are not quantized to b bits)
  double trace = 0;           // mean over the probes
  double standard_error = 0;  // sample standard deviation over the probes / sqrt(probes); 0 with one probe
};

// Folds every batch norm into its layer and then into the layer's weights
// and bias (weights := folded weights; the batch norm becomes an exact
// identity: gamma = sqrt(var + eps), beta = mean = 0, frozen), so a training
// forward computes what an evaluation forward did and Backward gives
// gradients with respect to the folded weights.
// REQUIRES: !net->quantized(); every batch norm directly follows a weighted
// layer (what TranslateLayers enforces).
void BakeBatchNorms(Network* net);

// The Hessian trace of the mean cross-entropy over images[0, n) (n * input
// size floats, HWC) with respect to each weighted layer's weights, in layer
// order, by `probes` Rademacher probes drawn from `seed`. The weights are
// restored bit for bit afterwards.
// REQUIRES: net is float and its batch norms baked (BakeBatchNorms);
// n >= 1; probes >= 1; relative_step > 0.
std::vector<LayerTrace> EstimateWeightHessianTraces(Network* net, const float* images, const int32_t* labels, int n,
                                                    int probes, uint64_t seed, double relative_step);

// ||Q_b(W_l) - W_l||^2 per weighted layer of `float_net`, on its folded
// weights `folded` (a copy of float_net after BakeBatchNorms; the traces'
// network, whose weights EstimateWeightHessianTraces restores), with the
// weight quantizer QAT uses at `bits` bits (per channel, symmetric;
// MSE-chosen scales at 4 bits or fewer, min-max above: the verified
// configurations are QAT-trained), through the same
// Network::EnableQuantization path. Errors: those of building a copy of the
// network. REQUIRES: !float_net.quantized(); 2 <= bits <= 8.
StatusOr<std::vector<double>> WeightQuantizationErrors(Network& float_net, Network& folded, int bits);

// Traces and Omega at kHessianWidths for every weighted layer of
// `float_net` (left unchanged), on settings.samples images of `train`.
// Errors: InvalidArgument for an empty training set, probes < 1 or
// relative_step <= 0; FailedPrecondition when float_net is quantized.
StatusOr<std::vector<v1::LayerHessian>> MeasureLayerHessians(Network& float_net, const Dataset& train,
                                                             const HessianSettings& settings);

}  // namespace qatlab
