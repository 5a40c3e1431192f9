// Times ImportOnnxModelFile (read, parse, onnx::checker, shape inference,
// translation into engine layers and weights) on one file: the median of
// --runs runs, in milliseconds, as one JSON object on stdout.
//   bench_onnx_import MODEL.onnx [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model_import/onnx_import.h"

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--runs")) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [--runs N]\n", argv[0]);
    return 2;
  }
  const int runs = argc == 4 ? std::max(1, std::atoi(argv[3])) : 20;
  std::vector<double> milliseconds;
  int layers = 0;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto model = qatlab::ImportOnnxModelFile(argv[1]);
    const auto end = std::chrono::steady_clock::now();
    if (!model.ok()) {
      std::fprintf(stderr, "error: %s\n", model.status().ToString().c_str());
      return 1;
    }
    layers = static_cast<int>(model->layers.size());
    milliseconds.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(milliseconds.begin(), milliseconds.end());
  std::printf("{\"import_ms_median\": %.3f, \"import_ms_min\": %.3f, \"runs\": %d, \"layers\": %d}\n",
              milliseconds[milliseconds.size() / 2], milliseconds.front(), runs, layers);
  return 0;
}
