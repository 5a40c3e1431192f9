// Times float and QAT (int8, fake-quantized) training epochs for the presets
// under the reference protocol's sizes (8,000 MNIST-10k training images,
// batch 64, Adam) and, in the same run on the same data, PyTorch's epochs
// of the same models (pytorch_epoch.py beside this file), when a Python with
// torch is found; then prints the ratio of the two measured figures.
// Without torch it says PyTorch was not measured and prints no ratio:
// figures copied from another machine or another day are not a baseline.
#include <sys/resource.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/job_spec.h"
#include "engine/network.h"
#include "engine/parallel.h"
#include "engine/trainer.h"
#include "process/child_process.h"

namespace {

// CPU seconds of the whole process (all threads): a figure that stays
// meaningful when the machine is shared and wall time is not.
double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Peak RSS of this process so far (presets run in turn, so a preset's figure
// includes the ones before it).
double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

// Wall-time figures mean little on a loaded machine (PyTorch's OpenMP
// threads spin while they wait for a core), so the load is printed with
// them.
void PrintLoadAverage(const char* when) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) std::printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
}

struct EpochFigures {
  double float_seconds = 0, qat_seconds = 0;          // wall, per epoch
  double float_cpu_seconds = 0, qat_cpu_seconds = 0;  // process CPU, per epoch
  double qat_test_accuracy = 0;
  double peak_rss_mib = 0;
};

qatlab::StatusOr<EpochFigures> TimeOurEpochs(const std::string& preset, const qatlab::DatasetPair& data, int epochs) {
  qatlab::v1::ModelSpec model;
  model.set_preset(preset);
  QATLAB_ASSIGN_OR_RETURN(std::vector<qatlab::LayerConfig> layers, qatlab::TranslateModel(model));
  const qatlab::ImageShape shape{data.train.height, data.train.width, data.train.channels};
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<qatlab::Network> net, qatlab::Network::Create(layers, shape, 1));
  qatlab::TrainingPlan plan;
  plan.epochs = epochs;
  std::vector<qatlab::EpochRecord> float_history, qat_history;
  EpochFigures figures;
  const double float_cpu_start = ProcessCpuSeconds();
  QATLAB_RETURN_IF_ERROR(qatlab::Train(net.get(), data.train, data.test, plan, nullptr, &float_history));
  figures.float_cpu_seconds = (ProcessCpuSeconds() - float_cpu_start) / epochs;
  qatlab::QuantizationSettings settings;
  settings.weight_bits.assign(net->weighted_layer_count(), 8);
  net->EnableQuantization(settings);
  qatlab::Calibrate(net.get(), data.train, 512, qatlab::RangeMethod::kMinMax, 99.99);
  plan.learning_rate = 1e-4;
  plan.seed = 2;
  const double qat_cpu_start = ProcessCpuSeconds();
  QATLAB_RETURN_IF_ERROR(qatlab::Train(net.get(), data.train, data.test, plan, nullptr, &qat_history));
  figures.qat_cpu_seconds = (ProcessCpuSeconds() - qat_cpu_start) / epochs;
  // Each epoch's time includes its test-set evaluation (2,000 images), as
  // PyTorch's does.
  for (const auto& e : float_history) figures.float_seconds += e.seconds / epochs;
  for (const auto& e : qat_history) figures.qat_seconds += e.seconds / epochs;
  figures.qat_test_accuracy = qat_history.back().test_accuracy;
  figures.peak_rss_mib = PeakRssMiB();
  return figures;
}

// The first of `candidates` that imports torch, or nullopt. `python3` on
// PATH may be a virtualenv or pyenv interpreter without Debian's
// python3-torch, which lives in /usr/bin/python3's dist-packages.
std::optional<std::string> FindPythonWithTorch(const std::vector<std::string>& candidates) {
  for (const std::string& python : candidates) {
    qatlab::ChildSpec spec;
    spec.argv = {python, "-c", "import torch"};
    auto run = qatlab::RunToCompletion(spec, std::chrono::seconds(120));
    if (run.ok() && run->exit_status == 0) return python;
  }
  return std::nullopt;
}

// Runs pytorch_epoch.py for one preset in a process of its own (so its peak
// RSS is that preset's) and reads its JSON.
qatlab::StatusOr<EpochFigures> TimePyTorchEpochs(const std::string& python, const std::string& script,
                                                 const std::string& preset, int epochs, int threads,
                                                 const std::string& cache, std::chrono::seconds timeout) {
  qatlab::ChildSpec spec;
  spec.argv = {
      python, script, "--presets", preset, "--epochs", std::to_string(epochs), "--threads", std::to_string(threads)};
  if (!cache.empty()) spec.argv.insert(spec.argv.end(), {"--data-cache", cache});
  QATLAB_ASSIGN_OR_RETURN(qatlab::CapturedRun run, qatlab::RunToCompletion(spec, timeout));
  if (run.timed_out)
    return qatlab::Status::Unavailable(script + ": no result within " + std::to_string(timeout.count()) + " s");
  if (run.exit_status != 0) {
    return qatlab::Status::Internal(script + " exited " + std::to_string(run.exit_status) + ": " + run.err);
  }
  const nlohmann::json document = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.contains("presets") || document["presets"].size() != 1) {
    return qatlab::Status::Internal(script + ": unexpected output: " + run.out);
  }
  const nlohmann::json& p = document["presets"][0];
  EpochFigures figures;
  figures.float_seconds = p.value("float_seconds", 0.0);
  figures.qat_seconds = p.value("qat_seconds", 0.0);
  figures.float_cpu_seconds = p.value("float_cpu_seconds", 0.0);
  figures.qat_cpu_seconds = p.value("qat_cpu_seconds", 0.0);
  figures.qat_test_accuracy = p.value("qat_test_accuracy", 0.0);
  figures.peak_rss_mib = p.value("peak_rss_mib", 0.0);
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Seconds per float and QAT epoch, against PyTorch measured in the same run"};
  int epochs = 2;
  int threads = 2;
  std::string cache;
  std::vector<std::string> presets = {"mlp", "cnn", "cnn_bn"};
  std::vector<std::string> pythons = {"python3", "/usr/bin/python3"};
  std::string script = QATLAB_PYTORCH_EPOCH_SCRIPT;
  int pytorch_timeout_seconds = 1800;
  bool skip_pytorch = false;
  app.add_option("--epochs", epochs, "Epochs timed per phase (the figure is their mean)");
  app.add_option("--threads", threads, "1 or 2 (PyTorch gets torch.set_num_threads of the same)");
  app.add_option("--data-cache", cache, "Data cache directory");
  app.add_option("--presets", presets, "Presets to time");
  app.add_option("--python", pythons, "Python interpreters to try for torch, in order");
  app.add_option("--pytorch-script", script, "pytorch_epoch.py");
  app.add_option("--pytorch-timeout", pytorch_timeout_seconds, "Seconds allowed per preset's PyTorch run");
  app.add_flag("--no-pytorch", skip_pytorch, "Do not measure PyTorch");
  CLI11_PARSE(app, argc, argv);
  qatlab::SetTrainingThreads(threads);

  qatlab::v1::DataSpec data_spec;
  data_spec.set_source("mnist");
  auto data = qatlab::LoadDataset(data_spec, cache);
  if (!data.ok()) {
    std::fprintf(stderr, "error: %s\n", data.status().ToString().c_str());
    return 1;
  }
  const std::optional<std::string> python = skip_pytorch ? std::nullopt : FindPythonWithTorch(pythons);
  if (python) {
    std::printf("PyTorch: measured now with %s %s (qnnpack QAT, %d threads)\n", python->c_str(), script.c_str(),
                threads);
  } else {
    std::printf("PyTorch: not measured (%s); no ratio is printed\n",
                skip_pytorch ? "--no-pytorch"
                             : "no interpreter imports torch; bench/engine/run_vs_pytorch.sh "
                               "installs Debian's python3-torch");
  }
  PrintLoadAverage("before");
  std::printf("%-8s %10s %10s %10s %10s %9s | %10s %10s %10s %10s %9s | %8s %8s %8s | %9s %9s\n", "preset",
              "float s/ep", "QAT s/ep", "float cpu", "QAT cpu", "QAT test%", "PT float", "PT QAT", "PT flt cpu",
              "PT QAT cpu", "PT test%", "float x", "QAT x", "QAT cpu x", "RSS MiB", "PT RSS");
  int failures = 0;
  for (const std::string& preset : presets) {
    auto ours = TimeOurEpochs(preset, *data, epochs);
    if (!ours.ok()) {
      std::fprintf(stderr, "error: %s: %s\n", preset.c_str(), ours.status().ToString().c_str());
      return 1;
    }
    std::optional<EpochFigures> theirs;
    if (python) {
      auto measured = TimePyTorchEpochs(*python, script, preset, epochs, threads, cache,
                                        std::chrono::seconds(pytorch_timeout_seconds));
      if (measured.ok()) {
        theirs = *measured;
      } else {
        std::fprintf(stderr, "error: PyTorch %s: %s\n", preset.c_str(), measured.status().ToString().c_str());
        ++failures;
      }
    }
    std::printf("%-8s %10.3f %10.3f %10.3f %10.3f %9.2f | ", preset.c_str(), ours->float_seconds, ours->qat_seconds,
                ours->float_cpu_seconds, ours->qat_cpu_seconds, ours->qat_test_accuracy);
    if (theirs) {
      // Ratios are PyTorch's s/epoch over ours: how many times faster we are.
      std::printf("%10.3f %10.3f %10.3f %10.3f %9.2f | %7.1fx %7.1fx %7.1fx | %9.1f %9.1f\n", theirs->float_seconds,
                  theirs->qat_seconds, theirs->float_cpu_seconds, theirs->qat_cpu_seconds, theirs->qat_test_accuracy,
                  theirs->float_seconds / ours->float_seconds, theirs->qat_seconds / ours->qat_seconds,
                  theirs->qat_cpu_seconds / ours->qat_cpu_seconds, ours->peak_rss_mib, theirs->peak_rss_mib);
    } else {
      std::printf("%10s %10s %10s %10s %9s | %8s %8s %8s | %9.1f %9s\n", "-", "-", "-", "-", "-", "-", "-", "-",
                  ours->peak_rss_mib, "-");
    }
    std::fflush(stdout);
  }
  PrintLoadAverage("after");
  return failures == 0 ? 0 : 1;
}
