// Times float and QAT (int8, fake-quantized) training epochs for the presets
// under the reference protocol's sizes (8,000 MNIST-10k training images,
// batch 64, Adam) and prints them next to PyTorch 1.13.1's QAT int8 s/epoch
// measured on this machine class (ARCHITECTURE.md, 2 threads).
#include <sys/resource.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/job_spec.h"
#include "engine/network.h"
#include "engine/parallel.h"
#include "engine/trainer.h"

namespace {

struct Baseline {
  const char* preset;
  double pytorch_low, pytorch_high;  // QAT int8 s/epoch
};

constexpr Baseline kBaselines[] = {{"mlp", 2.1, 2.5}, {"cnn", 1.6, 1.9}, {"cnn_bn", 2.25, 2.25}};

// CPU seconds of the whole process (all threads): a figure that stays
// meaningful when the machine is shared and wall time is not.
double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Seconds per float and QAT epoch, against PyTorch"};
  int epochs = 2;
  int threads = 2;
  std::string cache;
  std::vector<std::string> presets = {"mlp", "cnn", "cnn_bn"};
  app.add_option("--epochs", epochs, "Epochs timed per phase (the figure is their mean)");
  app.add_option("--threads", threads, "1 or 2");
  app.add_option("--data-cache", cache, "Data cache directory");
  app.add_option("--presets", presets, "Presets to time");
  CLI11_PARSE(app, argc, argv);
  qatlab::SetTrainingThreads(threads);

  qatlab::v1::DataSpec data_spec;
  data_spec.set_source("mnist");
  auto data = qatlab::LoadDataset(data_spec, cache);
  if (!data.ok()) {
    std::fprintf(stderr, "error: %s\n", data.status().ToString().c_str());
    return 1;
  }
  std::printf("%-8s %11s %11s %13s %13s %11s %14s %8s %13s\n", "preset", "float s/ep", "QAT s/ep", "float cpu s/ep",
              "QAT cpu s/ep", "QAT test %", "PyTorch s/ep", "speedup", "peak RSS MiB");
  for (const std::string& preset : presets) {
    qatlab::v1::ModelSpec model;
    model.set_preset(preset);
    auto layers = qatlab::TranslateModel(model);
    if (!layers.ok()) {
      std::fprintf(stderr, "error: %s\n", layers.status().ToString().c_str());
      return 1;
    }
    const qatlab::ImageShape shape{data->train.height, data->train.width, data->train.channels};
    auto net = qatlab::Network::Create(*layers, shape, 1);
    if (!net.ok()) {
      std::fprintf(stderr, "error: %s\n", net.status().ToString().c_str());
      return 1;
    }
    qatlab::TrainingPlan plan;
    plan.epochs = epochs;
    std::vector<qatlab::EpochRecord> float_history, qat_history;
    const double float_cpu_start = ProcessCpuSeconds();
    if (auto s = qatlab::Train(net->get(), data->train, data->test, plan, nullptr, &float_history); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
    const double float_cpu = (ProcessCpuSeconds() - float_cpu_start) / epochs;
    qatlab::QuantizationSettings settings;
    settings.weight_bits.assign((*net)->weighted_layer_count(), 8);
    (*net)->EnableQuantization(settings);
    qatlab::Calibrate(net->get(), data->train, 512, qatlab::RangeMethod::kMinMax, 99.99);
    plan.learning_rate = 1e-4;
    plan.seed = 2;
    const double qat_cpu_start = ProcessCpuSeconds();
    if (auto s = qatlab::Train(net->get(), data->train, data->test, plan, nullptr, &qat_history); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
    const double qat_cpu = (ProcessCpuSeconds() - qat_cpu_start) / epochs;
    // Each epoch's time includes its test-set evaluation (2,000 images).
    double float_seconds = 0, qat_seconds = 0;
    for (const auto& e : float_history) float_seconds += e.seconds;
    for (const auto& e : qat_history) qat_seconds += e.seconds;
    float_seconds /= epochs;
    qat_seconds /= epochs;
    double low = 0, high = 0;
    for (const auto& b : kBaselines) {
      if (preset == b.preset) {
        low = b.pytorch_low;
        high = b.pytorch_high;
      }
    }
    char pytorch[32] = "-", ratio[32] = "-";
    if (low > 0) {
      std::snprintf(pytorch, sizeof pytorch, "%.2f-%.2f", low, high);
      std::snprintf(ratio, sizeof ratio, "%.1fx", low / qat_seconds);
    }
    std::printf("%-8s %11.3f %11.3f %13.3f %13.3f %11.2f %14s %8s %13.1f\n", preset.c_str(), float_seconds, qat_seconds,
                float_cpu, qat_cpu, qat_history.back().test_accuracy, pytorch, ratio, PeakRssMiB());
    std::fflush(stdout);
  }
  return 0;
}
