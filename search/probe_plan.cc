#include "search/probe_plan.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "engine/job_spec.h"
#include "engine/model_config.h"

namespace qatlab::search {
namespace {

v1::QuantConfig MixedConfig(const std::string& name, const std::vector<int>& bits) {
  v1::QuantConfig config;
  config.set_name(name);
  config.set_weight_bits(8);
  config.set_activation_bits(8);
  for (int b : bits) config.add_layer_weight_bits(b);
  return config;
}

StatusOr<const v1::VariantResult*> FindVariant(const v1::JobResult& result, const std::string& name) {
  for (const v1::VariantResult& variant : result.variants()) {
    if (variant.name() == name) return &variant;
  }
  return Status::InvalidArgument(fmt::format("the sensitivity job has no variant '{}'", name));
}

bool IsWeightedOp(const std::string& op) { return op == "dense" || op == "conv2d" || op == "depthwise_conv2d"; }

}  // namespace

StatusOr<int> CountWeightedLayers(const v1::ModelSpec& model) {
  QATLAB_ASSIGN_OR_RETURN(const std::vector<LayerConfig> layers, TranslateModel(model));
  return CountWeightedLayers(layers);
}

int CountWeightedLayers(const std::vector<LayerConfig>& layers) {
  return static_cast<int>(
      std::count_if(layers.begin(), layers.end(), [](const LayerConfig& layer) { return IsWeighted(layer.kind); }));
}

std::string UniformConfigName(int bits) { return fmt::format("w{}a8", bits); }

std::vector<int> MixedProbeBits(int weighted_layers) {
  std::vector<int> bits;
  for (int l = 0; l < weighted_layers; ++l) bits.push_back(kSearchWidths[l % 3]);
  return bits;
}

std::vector<v1::QuantConfig> ProbeConfigs(int weighted_layers) {
  std::vector<v1::QuantConfig> configs;
  for (int bits : kSearchWidths) {
    v1::QuantConfig config;
    config.set_name(UniformConfigName(bits));
    config.set_weight_bits(bits);
    config.set_activation_bits(8);
    configs.push_back(config);
  }
  configs.push_back(MixedConfig(kMixedProbeName, MixedProbeBits(weighted_layers)));
  for (int l = 0; l < weighted_layers; ++l) {
    for (int bits : kSearchWidths) {
      if (bits == 8) continue;
      std::vector<int> widths(weighted_layers, 8);
      widths[l] = bits;
      configs.push_back(MixedConfig(fmt::format("l{}_w{}", l, bits), widths));
    }
  }
  return configs;
}

v1::JobSpec SensitivityJobSpec(const v1::JobSpec& spec, int weighted_layers) {
  v1::JobSpec probe = spec;
  probe.clear_configs();
  for (const v1::QuantConfig& config : ProbeConfigs(weighted_layers)) *probe.add_configs() = config;
  probe.set_skip_ptq(false);
  probe.set_skip_qat(true);
  probe.clear_measure_on();
  if (probe.ptq().test_samples() == 0) probe.mutable_ptq()->set_test_samples(kSensitivityTestSamples);
  if (probe.ptq().hessian_probes() == 0) probe.mutable_ptq()->set_hessian_probes(kSensitivityHessianProbes);
  (*probe.mutable_labels())["search-step"] = "sensitivity";
  return probe;
}

StatusOr<double> HawqScore(const v1::JobResult& sensitivity_job, int layer, int bits) {
  if (layer < 0 || layer >= sensitivity_job.layer_hessian_size()) {
    return Status::InvalidArgument(fmt::format("layer {}: the sensitivity job has Hessian traces of {} layers", layer,
                                               sensitivity_job.layer_hessian_size()));
  }
  const v1::LayerHessian& hessian = sensitivity_job.layer_hessian(layer);
  switch (bits) {
    case 2: return hessian.omega_w2();
    case 4: return hessian.omega_w4();
    case 8: return hessian.omega_w8();
    default: return Status::InvalidArgument(fmt::format("layer {}: no HAWQ score at {} bits (2, 4, 8)", layer, bits));
  }
}

StatusOr<double> HawqScore(const v1::JobResult& sensitivity_job, const std::vector<int>& bits) {
  if (sensitivity_job.layer_hessian_size() != static_cast<int>(bits.size())) {
    return Status::InvalidArgument(fmt::format("the sensitivity job has Hessian traces of {} layers, not {}",
                                               sensitivity_job.layer_hessian_size(), bits.size()));
  }
  double score = 0;
  for (size_t l = 0; l < bits.size(); ++l) {
    QATLAB_ASSIGN_OR_RETURN(const double omega, HawqScore(sensitivity_job, static_cast<int>(l), bits[l]));
    score += omega;
  }
  return score;
}

std::vector<double> WeightedOpCycles(const v1::MeasurementResult& measurement) {
  std::vector<double> cycles;
  for (const v1::LayerCycles& layer : measurement.layers()) {
    if (IsWeightedOp(layer.op())) cycles.push_back(static_cast<double>(layer.cycles()));
  }
  return cycles;
}

Status CheckRankable(const v1::JobResult& sensitivity_job, int weighted_layers, RankingMeasure ranking) {
  if (ranking != RankingMeasure::kHawqScore || sensitivity_job.layer_hessian_size() == weighted_layers) {
    return Status::Ok();
  }
  return Status::FailedPrecondition(fmt::format(
      "ranking by the HAWQ score needs the sensitivity job's Hessian traces, and it has {} of {} layers' (its "
      "ptq.hessianProbes was 0, or its worker is older than the traces); search again with ptq.hessianProbes > 0 "
      "in the job file (or without it: the search's default is {}), or rank by the PTQ drops (qatctl search "
      "--rank-by ptq)",
      sensitivity_job.layer_hessian_size(), weighted_layers, kSensitivityHessianProbes));
}

StatusOr<SearchProblem> BuildSearchProblem(const ProbeResults& probes, int weighted_layers, RankingMeasure ranking) {
  if (weighted_layers < 1) return Status::InvalidArgument("the model has no weighted layer to search");
  const v1::JobResult& job = probes.sensitivity_job;
  QATLAB_ASSIGN_OR_RETURN(const v1::VariantResult* reference, FindVariant(job, "ptq_" + UniformConfigName(8)));
  QATLAB_RETURN_IF_ERROR(CheckRankable(job, weighted_layers, ranking));
  const bool has_traces = job.layer_hessian_size() == weighted_layers;

  SearchProblem problem;
  problem.ranking = ranking;
  problem.has_hawq_scores = has_traces;
  problem.reference_accuracy = reference->integer_accuracy();
  problem.base_flash_bytes = reference->flash_bytes();
  problem.base_ram_bytes = reference->ram_bytes();

  // Per-layer cycles at each width, and the rest of the inference.
  std::map<int, std::vector<double>> layer_cycles;
  std::vector<double> rest;
  for (int bits : kSearchWidths) {
    auto found = probes.uniform_measurements.find(bits);
    if (found == probes.uniform_measurements.end()) {
      return Status::InvalidArgument(fmt::format("no board measurement of ptq_{}", UniformConfigName(bits)));
    }
    const v1::MeasurementResult& measurement = found->second;
    std::vector<double> cycles = WeightedOpCycles(measurement);
    if (static_cast<int>(cycles.size()) != weighted_layers) {
      return Status::InvalidArgument(fmt::format(
          "the measurement of ptq_{} has {} weighted ops (with per-layer cycles) but the model has {} weighted layers",
          UniformConfigName(bits), cycles.size(), weighted_layers));
    }
    rest.push_back(static_cast<double>(measurement.median_cycles()) -
                   std::accumulate(cycles.begin(), cycles.end(), 0.0));
    layer_cycles[bits] = std::move(cycles);
    if (problem.clock_hz == 0) problem.clock_hz = measurement.clock_hz();
  }
  std::sort(rest.begin(), rest.end());
  problem.base_cycles = rest[rest.size() / 2];

  problem.layers.resize(weighted_layers);
  for (int l = 0; l < weighted_layers; ++l) {
    for (int bits : kSearchWidths) {
      WidthOption option;
      option.bits = bits;
      option.cycles = layer_cycles[bits][l];
      if (bits != 8) {
        QATLAB_ASSIGN_OR_RETURN(const v1::VariantResult* probe, FindVariant(job, fmt::format("ptq_l{}_w{}", l, bits)));
        option.accuracy_drop = reference->integer_accuracy() - probe->integer_accuracy();
        option.flash_bytes = probe->flash_bytes() - reference->flash_bytes();
        option.ram_bytes = probe->ram_bytes() - reference->ram_bytes();
      }
      if (has_traces) {
        QATLAB_ASSIGN_OR_RETURN(option.hawq_score, HawqScore(job, l, bits));
      }
      problem.layers[l].push_back(option);
    }
  }
  return problem;
}

}  // namespace qatlab::search
