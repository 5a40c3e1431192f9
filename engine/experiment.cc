#include "engine/experiment.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "data/dataset.h"
#include "digest/sha256.h"
#include "engine/float_checkpoint.h"
#include "engine/hessian_trace.h"
#include "engine/integer_export.h"
#include "engine/integer_runner.h"
#include "engine/job_spec.h"
#include "engine/network.h"
#include "engine/parallel.h"
#include "engine/qmodel_writer.h"
#include "engine/trainer.h"

namespace qatlab {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

RangeMethod ParseRangeMethod(const std::string& name) {
  if (name == "percentile") return RangeMethod::kPercentile;
  if (name == "mse") return RangeMethod::kMse;
  return RangeMethod::kMinMax;
}

TrainingPlan FloatPlan(const v1::JobSpec& spec) {
  const auto& t = spec.training();
  TrainingPlan plan;
  plan.variant = "float";
  plan.optimizer = t.optimizer();
  plan.learning_rate = t.learning_rate();
  plan.momentum = t.momentum();
  plan.weight_decay = t.weight_decay();
  plan.batch_size = t.batch_size();
  plan.epochs = t.epochs();
  plan.schedule = t.schedule();
  plan.step_epochs = t.step_epochs();
  plan.step_gamma = t.step_gamma();
  plan.seed = spec.seed();
  return plan;
}

TrainingPlan QatPlan(const v1::JobSpec& spec, const std::string& variant) {
  TrainingPlan plan = FloatPlan(spec);
  const auto& q = spec.qat();
  plan.variant = variant;
  plan.optimizer = q.optimizer();
  plan.learning_rate = q.learning_rate();
  plan.epochs = q.epochs();
  plan.freeze_observers_epoch = q.freeze_observers_epoch();
  plan.freeze_bn_epoch = q.freeze_bn_epoch();
  // A different shuffle stream than float training's, the same for every
  // config so configs are compared on equal footing; qat.seed set to the
  // job's seed is the same stream as leaving it unset.
  plan.seed = (q.has_seed() ? q.seed() : spec.seed()) ^ 0x5157415154ULL;
  return plan;
}

v1::EpochStats ToEpochStats(const EpochRecord& record) {
  v1::EpochStats stats;
  stats.set_variant(record.variant);
  stats.set_epoch(record.epoch);
  stats.set_epochs(record.epochs);
  stats.set_loss(record.loss);
  stats.set_train_accuracy(record.train_accuracy);
  stats.set_test_accuracy(record.test_accuracy);
  stats.set_seconds(record.seconds);
  return stats;
}

// Train's progress as the job's progress events.
TrainingProgressCallback ReportAsProgressEvents(const ProgressCallback& progress) {
  if (!progress) return nullptr;
  return [&progress](const TrainingProgress& training) {
    ProgressEvent event;
    event.stats = ToEpochStats(training.stats);
    event.end_of_epoch = training.end_of_epoch;
    event.batch = training.batch;
    event.batches = training.batches;
    event.eta_seconds = training.eta_seconds;
    return progress(event);
  };
}

std::vector<int> WeightBitsPerLayer(const v1::QuantConfig& config, int weighted_layers) {
  if (config.layer_weight_bits_size() > 0) {
    return std::vector<int>(config.layer_weight_bits().begin(), config.layer_weight_bits().end());
  }
  return std::vector<int>(weighted_layers, config.weight_bits());
}

// The test set as int8 model input.
std::vector<int8_t> QuantizedTestInputs(const Dataset& test, const IntegerRunner& runner) {
  const size_t sample = test.sample_size();
  std::vector<int8_t> inputs(sample * test.size());
  for (int i = 0; i < test.size(); ++i) {
    int8_t* out = inputs.data() + sample * i;
    if (test.has_pixels()) {
      runner.QuantizeImage(test.pixel_image(i), out);
    } else {
      QuantizeFloatImage(test.float_image(i), sample, runner.input_scale(), runner.input_zero_point(), out);
    }
  }
  return inputs;
}

// Exports a quantized network, runs the integer model on the test set and
// fills the integer fields of `variant`.
Status ExportAndMeasure(const Network& net, const std::string& model_name, const Dataset& test,
                        const std::vector<int32_t>& fake_quant_predictions, v1::VariantResult* variant,
                        std::vector<VariantArtifact>* artifacts) {
  auto integer_model = ExportIntegerModel(net, model_name);
  if (!integer_model.ok()) return integer_model.status().WithContext(variant->name() + ": export");
  auto bytes = WriteQModel(*integer_model);
  if (!bytes.ok()) return bytes.status().WithContext(variant->name() + ": writing the .qmodel");
  auto footprint = ComputeQModelFootprint(*bytes);
  if (!footprint.ok()) return footprint.status().WithContext(variant->name() + ": footprint");
  auto runner = IntegerRunner::Open(*bytes);
  if (!runner.ok())
    return Status::Internal(variant->name() +
                            ": the integer kernels reject the exported model: " + runner.status().ToString());
  const std::vector<int8_t> inputs = QuantizedTestInputs(test, *runner);
  std::vector<int8_t> logits(runner->output_bytes());
  int correct = 0, agree = 0;
  const size_t sample = test.sample_size();
  for (int i = 0; i < test.size(); ++i) {
    QATLAB_RETURN_IF_ERROR(runner->Run(inputs.data() + sample * i, logits.data()));
    const int predicted = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (predicted == test.labels[i]) ++correct;
    if (predicted == fake_quant_predictions[i]) ++agree;
  }
  const double n = std::max(1, test.size());
  variant->set_integer_accuracy(100.0 * correct / n);
  variant->set_agreement(100.0 * agree / n);
  variant->set_flash_bytes(footprint->flash_bytes);
  variant->set_parameters(footprint->parameters);
  variant->set_macs(footprint->macs);
  variant->set_ram_bytes(footprint->arena_bytes);
  VariantArtifact artifact;
  artifact.variant = variant->name();
  artifact.file_name = variant->name() + ".qmodel";
  artifact.qmodel = std::move(*bytes);
  variant->set_artifact(artifact.file_name);
  variant->set_artifact_sha256(
      Sha256Hex(std::string_view(reinterpret_cast<const char*>(artifact.qmodel.data()), artifact.qmodel.size())));
  artifacts->push_back(std::move(artifact));
  return Status::Ok();
}

void FillQuantVariant(const v1::QuantConfig& config, const std::vector<int>& bits, const std::string& kind,
                      v1::VariantResult* variant) {
  variant->set_name(kind + "_" + config.name());
  variant->set_kind(kind);
  variant->set_config(config.name());
  variant->set_weight_bits(*std::max_element(bits.begin(), bits.end()));
  variant->set_activation_bits(config.activation_bits());
  if (config.layer_weight_bits_size() > 0) {
    for (int b : bits) variant->add_layer_weight_bits(b);
  }
}

}  // namespace

StatusOr<ExperimentOutput> RunExperimentOnData(const v1::JobSpec& input_spec, const DatasetPair& data,
                                               const ExperimentOptions& options, const ProgressCallback& progress) {
  const auto start = Clock::now();
  v1::JobSpec spec = input_spec;
  ApplyJobSpecDefaults(&spec);
  const ImageShape shape{data.train.height, data.train.width, data.train.channels};
  const int num_classes = std::max(data.train.num_classes, data.test.num_classes);
  QATLAB_ASSIGN_OR_RETURN(const JobModel model, TranslateValidJobSpec(spec, shape, num_classes));
  const std::vector<LayerConfig>& layers = model.layers;
  if (data.train.size() == 0) return Status::InvalidArgument("data: the training set is empty");
  if (data.test.size() == 0) return Status::InvalidArgument("data: the test set is empty");
  if (!spec.baseline_job().empty() && options.float_checkpoint == nullptr) {
    return Status::FailedPrecondition("the spec starts from baseline job " + spec.baseline_job() +
                                      ": its float checkpoint (" + kFloatCheckpointName + ") must be given");
  }
  SetTrainingThreads(options.threads);

  const TrainingProgressCallback report = ReportAsProgressEvents(progress);
  ExperimentOutput output;
  v1::JobResult& result = output.result;
  result.set_experiment(spec.experiment());
  result.set_model(model.name);
  result.set_dataset(data.name);
  result.set_train_samples(data.train.size());
  result.set_test_samples(data.test.size());

  // Float baseline: trained here, or an imported model's weights (then
  // fine-tuned only for the epochs the spec asks for; none by default).
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> float_net, Network::Create(layers, shape, spec.seed()));
  if (!model.weights.empty()) QATLAB_RETURN_IF_ERROR(float_net->LoadWeights(model.weights));
  v1::VariantResult* float_variant = result.add_variants();
  float_variant->set_name("float");
  float_variant->set_kind("float");
  float_variant->set_weight_bits(32);
  float_variant->set_activation_bits(32);
  if (options.float_checkpoint != nullptr) {
    // Trained once by the baseline job; every job starting from it shares it.
    QATLAB_RETURN_IF_ERROR(LoadFloatCheckpoint(*options.float_checkpoint, float_net.get()));
    float_variant->set_baseline_job(options.baseline_job);
  } else {
    const auto train_start = Clock::now();
    std::vector<EpochRecord> history;
    const Status trained = Train(float_net.get(), data.train, data.test, FloatPlan(spec), report, &history);
    // Every variant starts from the float model: if it diverges, the job fails.
    if (IsTrainingDivergence(trained)) return trained.WithContext("float");
    QATLAB_RETURN_IF_ERROR(trained);
    float_variant->set_train_seconds(SecondsSince(train_start));
    for (const EpochRecord& e : history) *float_variant->add_history() = ToEpochStats(e);
    output.float_checkpoint = WriteFloatCheckpoint(*float_net);
  }
  float_variant->set_accuracy(Evaluate(float_net.get(), data.test, nullptr));
  const int64_t float_parameters = float_net->FloatParameterCount();
  float_variant->set_parameters(float_parameters);
  float_variant->set_flash_bytes(float_parameters * static_cast<int64_t>(sizeof(float)));
  float_variant->set_macs(float_net->MacCount());
  float_variant->set_ram_bytes(float_net->FloatActivationBytes());
  result.set_float_weight_bytes(float_parameters * static_cast<int64_t>(sizeof(float)));
  if (spec.ptq().hessian_probes() > 0) {
    // The second-order sensitivity, from the float model every variant starts from.
    HessianSettings hessian;
    hessian.probes = spec.ptq().hessian_probes();
    hessian.seed = spec.seed();
    auto layers_hessian = MeasureLayerHessians(*float_net, data.train, hessian);
    if (!layers_hessian.ok()) return layers_hessian.status().WithContext("Hessian traces");
    for (v1::LayerHessian& layer : *layers_hessian) *result.add_layer_hessian() = std::move(layer);
  }

  const int weighted = float_net->weighted_layer_count();
  const RangeMethod ptq_method = ParseRangeMethod(spec.ptq().method());
  // The PTQ variants' test set: the first ptq.test_samples images, the same
  // images a job with data.test_limit = ptq.test_samples evaluates on.
  Dataset ptq_test_subset;
  const Dataset* ptq_test = &data.test;
  if (spec.ptq().test_samples() > 0 && spec.ptq().test_samples() < data.test.size()) {
    ptq_test_subset = data.test;
    ptq_test_subset.Truncate(spec.ptq().test_samples());
    ptq_test = &ptq_test_subset;
  }
  if (!spec.skip_ptq()) result.set_ptq_test_samples(ptq_test->size());
  for (const v1::QuantConfig& config : spec.configs()) {
    const std::vector<int> bits = WeightBitsPerLayer(config, weighted);
    QuantizationSettings settings;
    settings.weight_bits = bits;
    settings.activation_bits = config.activation_bits();
    settings.per_tensor = config.per_tensor();
    settings.symmetric_activations = config.symmetric_activations();
    const bool exportable = config.activation_bits() == 8;
    // A trained quantized variant: its test accuracy and, with 8-bit
    // activations, its exported integer model and how well that agrees.
    auto score = [&](Network* net, const Dataset& test, v1::VariantResult* variant) -> Status {
      std::vector<int32_t> predictions;
      variant->set_accuracy(Evaluate(net, test, &predictions));
      if (!exportable) return Status::Ok();
      return ExportAndMeasure(*net, result.model() + " " + variant->name(), test, predictions, variant,
                              &output.artifacts);
    };

    if (!spec.skip_ptq()) {
      v1::VariantResult* variant = result.add_variants();
      FillQuantVariant(config, bits, "ptq", variant);
      const auto ptq_start = Clock::now();
      // Each quantized variant starts from a copy of the trained float network.
      QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> net, float_net->Clone());
      QuantizationSettings ptq_settings = settings;
      ptq_settings.weight_method = ptq_method == RangeMethod::kMse ? RangeMethod::kMse : RangeMethod::kMinMax;
      ptq_settings.low_bit_weight_method = ptq_settings.weight_method;
      ptq_settings.freeze_weight_scales = true;
      net->EnableQuantization(ptq_settings);
      Calibrate(net.get(), data.train, spec.ptq().calibration_samples(), ptq_method, spec.ptq().percentile());
      variant->set_train_seconds(SecondsSince(ptq_start));
      QATLAB_RETURN_IF_ERROR(score(net.get(), *ptq_test, variant));
    }

    if (!spec.skip_qat()) {
      v1::VariantResult* variant = result.add_variants();
      FillQuantVariant(config, bits, "qat", variant);
      const auto qat_start = Clock::now();
      QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> net, float_net->Clone());
      QuantizationSettings qat_settings = settings;
      qat_settings.low_bit_weight_method = RangeMethod::kMse;
      net->EnableQuantization(qat_settings);
      // Observers start from a min-max calibration rather than the first
      // batch, then follow their moving averages.
      Calibrate(net.get(), data.train, spec.ptq().calibration_samples(), RangeMethod::kMinMax, 99.99);
      if (spec.qat().learned_step_size()) net->EnableLearnedStepSize();
      std::vector<EpochRecord> history;
      const Status trained = Train(net.get(), data.train, data.test, QatPlan(spec, variant->name()), report, &history);
      for (const EpochRecord& e : history) *variant->add_history() = ToEpochStats(e);
      if (IsTrainingDivergence(trained)) {
        // This variant ends here, with its reason; the others are kept.
        variant->set_error(trained.message());
        variant->set_train_seconds(SecondsSince(qat_start));
        continue;
      }
      QATLAB_RETURN_IF_ERROR(trained);
      net->FreezeObservers(true);
      net->FreezeBatchNorm(true);
      net->FreezeWeightScales();
      variant->set_train_seconds(SecondsSince(qat_start));
      QATLAB_RETURN_IF_ERROR(score(net.get(), data.test, variant));
    }
  }
  result.set_total_seconds(SecondsSince(start));
  return output;
}

StatusOr<ExperimentOutput> RunExperiment(const v1::JobSpec& input_spec, const ExperimentOptions& options,
                                         const ProgressCallback& progress) {
  v1::JobSpec spec = input_spec;
  ApplyJobSpecDefaults(&spec);
  QATLAB_RETURN_IF_ERROR(ValidateJobSpec(spec));
  QATLAB_ASSIGN_OR_RETURN(const DatasetPair data, LoadDataset(spec.data(), options.data_cache_dir));
  return RunExperimentOnData(spec, data, options, progress);
}

}  // namespace qatlab
