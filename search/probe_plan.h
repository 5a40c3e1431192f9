// The probes a search runs before it optimises, and how their results become
// a SearchProblem (search/bit_width_search.h).
//
// ONE job, with skip_qat, trains the float baseline once and quantizes it
// post-training (PTQ, per channel) for these configurations:
//   - the uniform ones, "w8a8", "w4a8", "w2a8" (the default names);
//   - "probe_mixed": layer l at kSearchWidths[l % 3] (8, 4, 2, 8, ...), a
//     configuration the cost model has not seen, to check separability;
//   - per weighted layer l and width b in {4, 2}: "l<l>_w<b>", layer l at b
//     bits and every other layer at 8.
// The others stay at 8 bits, not float: QuantConfig.layer_weight_bits takes
// 2..8 per layer and no float layer (the integer export has none). So the
// sensitivity of layer l at b bits is the drop in integer accuracy from
// ptq_w8a8 to ptq_l<l>_w<b>, and 0 at 8 bits.
//
// Flash and RAM come from the exporter's exact sizes of those PTQ models:
// the .qmodel stores each layer's packed weights in its own 4-byte aligned
// block and every other record is the same for any widths, so the size of a
// configuration is size(w8) + sum over layers of (size(l at b) - size(w8)),
// exactly (checked against the real exported sizes by tests/search). The
// activation arena depends only on shapes (activations are 8-bit), so RAM is
// the same for every configuration.
//
// Latency comes from board measurements of the uniform PTQ models: the
// per-op cycles of the k-th weighted op at b bits is layer k's cost at b; the
// rest of the inference (pools, the input copy, the loop) is the median over
// the three of (whole-model cycles - sum of weighted ops' cycles).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "qatlab/v1/job.pb.h"
#include "qatlab/v1/resources.pb.h"
#include "search/bit_width_search.h"
#include "status/status.h"

namespace qatlab::search {

// The widths searched, widest first.
inline constexpr int kSearchWidths[] = {8, 4, 2};

// The name of the separability probe's config.
inline constexpr const char* kMixedProbeName = "probe_mixed";

// The configurations of the sensitivity job for a model with
// `weighted_layers` weighted layers (REQUIRES: >= 1), in the order above.
std::vector<v1::QuantConfig> ProbeConfigs(int weighted_layers);

// The test images the sensitivity job evaluates its probes on, by default
// (PtqSpec.test_samples): the first 2,000. A probe's figure is a difference
// of accuracies (ptq_w8a8 minus layer l at b bits) that only ranks the
// choices; on 2,000 images one image is 0.05 points. Fewer than the test
// set has: all of them.
inline constexpr int kSensitivityTestSamples = 2000;

// The Hutchinson probes of the sensitivity job's second-order measure
// (PtqSpec.hessian_probes, JobResult.layer_hessian) by default: on ds_cnn
// (Fashion-MNIST) they cost about 3 CPU seconds, and the traces' standard
// errors are 14-26% of the traces for the layers with the largest scores
// (more for the small ones, whose scores matter least).
inline constexpr int kSensitivityHessianProbes = 32;

// The sensitivity job for `spec` (the user's job: model, data, training,
// PTQ settings, seed) and a model of `weighted_layers` weighted layers: the
// float baseline the candidates start from (JobSpec.baseline_job) and a PTQ
// variant per ProbeConfigs entry, no QAT, no board; the PTQ variants
// evaluated on spec.ptq.test_samples test images when the spec sets it, else
// on kSensitivityTestSamples; the float model's Hessian traces with
// spec.ptq.hessian_probes probes when the spec sets it, else
// kSensitivityHessianProbes. Labelled search-step=sensitivity.
v1::JobSpec SensitivityJobSpec(const v1::JobSpec& spec, int weighted_layers);

// A configuration's HAWQ score, the second measure's prediction: the sum over
// the layers of Omega(l, bits[l]) (LayerHessian.omega_w<b>) from the
// sensitivity job's layer_hessian; lower is predicted more accurate.
// Errors: InvalidArgument when the job has no Hessian traces for
// bits.size() layers (an older server or worker) or a width is not 2, 4 or 8.
StatusOr<double> HawqScore(const v1::JobResult& sensitivity_job, const std::vector<int>& bits);
// Omega(layer, bits) alone, with the same errors.
StatusOr<double> HawqScore(const v1::JobResult& sensitivity_job, int layer, int bits);

// The weighted layers (dense, conv2d, depthwise_conv2d) of a preset or
// explicit-layers model, or of an ONNX file on this machine. Errors: those of
// the engine's TranslateModel (InvalidArgument naming the layer or preset).
StatusOr<int> CountWeightedLayers(const v1::ModelSpec& model);
// The same of layers already translated (engine/job_spec.h TranslateModel).
int CountWeightedLayers(const std::vector<LayerConfig>& layers);

// The widths of the separability probe.
std::vector<int> MixedProbeBits(int weighted_layers);

// The name of a uniform configuration ("w4a8") and of its PTQ variant ("ptq_w4a8").
std::string UniformConfigName(int bits);

// What the probes measured.
struct ProbeResults {
  v1::JobResult sensitivity_job;  // the skip_qat job over ProbeConfigs
  // Board measurements of its uniform PTQ variants, by bit width (8, 4, 2).
  std::map<int, v1::MeasurementResult> uniform_measurements;
};

// The problem the probes describe, ranked by `ranking`: each option's
// accuracy_drop from the PTQ probes and, when the sensitivity job has Hessian
// traces of every layer, its hawq_score Omega(l, b) (has_hawq_scores), so
// both measures are predicted whichever ranks. Errors: InvalidArgument naming
// the missing variant or measurement, or a measurement whose weighted ops do
// not match the layer count; FailedPrecondition when `ranking` is
// kHawqScore and the job has no traces, naming the fix (ptq.hessianProbes
// > 0 in the job file, or ranking by the PTQ drops).
StatusOr<SearchProblem> BuildSearchProblem(const ProbeResults& probes, int weighted_layers, RankingMeasure ranking);

// BuildSearchProblem's check of the traces alone: OK unless `ranking` is
// kHawqScore and the job has no traces of `weighted_layers` layers (then its
// FailedPrecondition). The orchestrator calls it as soon as the sensitivity
// job is back, before the board measures anything.
Status CheckRankable(const v1::JobResult& sensitivity_job, int weighted_layers, RankingMeasure ranking);

// The weighted ops' cycles of a measurement, in order (ops "dense", "conv2d",
// "depthwise_conv2d").
std::vector<double> WeightedOpCycles(const v1::MeasurementResult& measurement);

}  // namespace qatlab::search
