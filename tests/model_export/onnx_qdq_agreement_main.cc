// On demand, not a ctest: the ONNX export's class agreement with the integer
// kernels for .qmodel files a run produced, on the MNIST-10k test split, and
// the operators onnxruntime runs. The figures of docs/benchmarks.md ("ONNX
// export") come from the reference-protocol models:
//   for p in mlp cnn cnn_bn ds_cnn; do
//     build/worker/qatlab-worker run examples/$p.json --out /tmp/ref/$p >/dev/null; done
//   build/tests/model_export/onnx_qdq_agreement /tmp/ref/*/*.qmodel
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "qatlab/v1/job.pb.h"
#include "tests/model_export/onnx_qdq_comparison.h"

namespace qatlab {
namespace {

std::vector<std::string> qmodel_paths;

TEST(OnnxQdqAgreement, OfEachQmodelOnTheMnistTestSplit) {
  ASSERT_FALSE(qmodel_paths.empty()) << "usage: onnx_qdq_agreement FILE.qmodel...";
  v1::DataSpec spec;
  spec.set_source("mnist");
  auto data = LoadDataset(spec, "");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  const Dataset& test = data->test;
  ASSERT_TRUE(test.has_pixels());
  for (const std::string& path : qmodel_paths) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << path;
    const std::vector<uint8_t> qmodel((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::filesystem::path file(path);
    const std::string name = file.parent_path().filename().string() + "_" + file.stem().string();
    OnnxComparison comparison;
    ASSERT_NO_FATAL_FAILURE(CompareOnnxWithKernels(qmodel, name, test.pixel_image(0), test.size(), &comparison));
    std::printf("| %s | %d / %d | %.2f%% | %d / %d | %d / %d | %s |\n", name.c_str(), comparison.same_class,
                comparison.images, comparison.class_agreement_percent(), comparison.same_logit, comparison.logits,
                comparison.within_one_lsb, comparison.logits, comparison.OpList().c_str());
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace qatlab

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) qatlab::qmodel_paths.emplace_back(argv[i]);
  return RUN_ALL_TESTS();
}
