// The C export (model_export/c_export.h) as a user meets it: every preset,
// trained briefly on MNIST-10k, exported to C; the example built with CMake
// against the kernels package (find_package(qatlab_kernels)) installed by the
// fixture (c_export_install_kernels.cmake), once for the host and once for
// the Cortex-M4 with the documented toolchain file; both runs (the second in
// QEMU's mps2-an386) must print the logits our integer kernels compute for
// the same sample, byte for byte, and the model array must be in flash.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/integer_runner.h"
#include "engine/job_spec.h"
#include "engine/qmodel_writer.h"
#include "model_export/c_export.h"
#include "model_export/model_export.h"
#include "tests/device/seeded_models.h"
#include "tests/support/mnist10k.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab {
namespace {

using std::chrono::seconds;
using test_support::RunCommand;
using test_support::TempDir;

const DatasetPair& Mnist() {
  static const DatasetPair data = test_support::LoadMnist10k(600, 50);
  return data;
}

// `preset` trained for one epoch on 600 images and one QAT epoch: the QAT
// variant's .qmodel (an empty vector and a failed test when the run fails).
std::vector<uint8_t> BrieflyTrainedQmodel(const std::string& preset, int weight_bits) {
  const v1::JobSpec spec = test_support::ShortQatSpec(preset, {weight_bits}, /*calibration_samples=*/128);
  auto output = RunExperimentOnData(spec, Mnist(), ExperimentOptions{}, nullptr);
  EXPECT_TRUE(output.ok()) << preset << ": " << output.status().ToString();
  if (!output.ok()) return {};
  for (const VariantArtifact& artifact : output->artifacts) {
    if (artifact.variant.rfind("qat_", 0) == 0) return artifact.qmodel;
  }
  ADD_FAILURE() << preset << ": no QAT artifact";
  return {};
}

std::string AsString(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

void WriteFiles(const std::vector<ExportedFile>& files, const std::string& directory) {
  for (const ExportedFile& file : files) {
    std::ofstream out(directory + "/" + file.name, std::ios::binary);
    out << file.contents;
    ASSERT_TRUE(out.good()) << file.name;
  }
}

// "logits: 1 -2 3" as our integer kernels compute them for `pixels`.
std::string ExpectedLogitsLine(const std::vector<uint8_t>& qmodel, const uint8_t* pixels) {
  auto runner = IntegerRunner::Open(qmodel);
  EXPECT_TRUE(runner.ok()) << runner.status().ToString();
  if (!runner.ok()) return "";
  std::vector<int8_t> input(static_cast<size_t>(runner->input_bytes()));
  std::vector<int8_t> logits(static_cast<size_t>(runner->output_bytes()));
  runner->QuantizeImage(pixels, input.data());
  EXPECT_TRUE(runner->Run(input.data(), logits.data()).ok());
  std::string line = "logits:";
  for (int8_t value : logits) {
    line += ' ';
    line += std::to_string(value);
  }
  return line;
}

// The line of `output` that starts with `prefix` ("" when none).
std::string LineStartingWith(const std::string& output, const std::string& prefix) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

// Runs `argv` (bounded by `timeout`) and fails the test, with its output,
// when it does not exit 0. Returns its stdout.
std::string RunOrFail(const std::vector<std::string>& argv, seconds timeout) {
  const CapturedRun run = RunCommand(argv, timeout);
  std::string command;
  for (const std::string& arg : argv) command += arg + " ";
  EXPECT_EQ(run.exit_status, 0) << command << "\nstdout:\n" << run.out << "\nstderr:\n" << run.err;
  return run.out;
}

// `size`'s Berkeley line for `program`: "text data bss".
std::string SizeLine(const std::string& size_tool, const std::string& program) {
  const std::string out = RunOrFail({size_tool, program}, seconds(30));
  std::istringstream lines(out);
  std::string header, values;
  std::getline(lines, header);
  std::getline(lines, values);
  std::istringstream fields(values);
  std::string text, data, bss;
  fields >> text >> data >> bss;
  return "text " + text + " data " + data + " bss " + bss;
}

// "-D<name>=<value>" for cmake's command line.
std::string Define(const std::string& name, const std::string& value) { return "-D" + name + "=" + value; }

struct PresetCase {
  std::string preset;
  int weight_bits;
};

void PrintTo(const PresetCase& c, std::ostream* out) { *out << c.preset << " w" << c.weight_bits; }

class CExportExample : public testing::TestWithParam<PresetCase> {};

TEST_P(CExportExample, LogitsOnHostAndCortexM4MatchIntegerKernels) {
  const PresetCase& c = GetParam();
  ASSERT_GT(Mnist().test.size(), 0);
  const std::vector<uint8_t> qmodel = BrieflyTrainedQmodel(c.preset, c.weight_bits);
  ASSERT_FALSE(qmodel.empty());
  const Dataset& test = Mnist().test;
  const uint8_t* sample = test.pixel_image(0);
  const std::string model_name = c.preset + " qat w" + std::to_string(c.weight_bits);
  const std::string id = CExportIdentifier(model_name);
  auto files = QmodelToC(AsString(qmodel), model_name,
                         std::span<const uint8_t>(sample, static_cast<size_t>(test.sample_size())));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  TempDir dir;
  const std::string source = dir.File("export");
  ASSERT_EQ(RunCommand({"mkdir", source}, seconds(10)).exit_status, 0);
  WriteFiles(*files, source);
  const std::string expected = ExpectedLogitsLine(qmodel, sample);
  ASSERT_NE(expected, "");

  // The host: the example against the host install, warnings as errors.
  const std::string host_build = dir.File("build-host");
  RunOrFail({QATLAB_CMAKE_COMMAND, "-S", source, "-B", host_build, "-DCMAKE_BUILD_TYPE=Release",
             Define("CMAKE_C_COMPILER", QATLAB_HOST_C_COMPILER),
             Define("CMAKE_PREFIX_PATH", QATLAB_C_EXPORT_HOST_PREFIX), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"},
            seconds(120));
  RunOrFail({QATLAB_CMAKE_COMMAND, "--build", host_build}, seconds(300));
  ASSERT_FALSE(HasFailure()) << "the host example does not build";
  const std::string host_program = host_build + "/" + id + "_example";
  const std::string host_out = RunOrFail({host_program}, seconds(60));
  EXPECT_EQ(LineStartingWith(host_out, "logits:"), expected) << host_out;

  // The Cortex-M4: the same example with the toolchain file, the Cortex-M4
  // install, and the firmware's mps2-an386 linker script.
  const std::string m4_build = dir.File("build-m4");
  RunOrFail({QATLAB_CMAKE_COMMAND, "-S", source, "-B", m4_build, "-DCMAKE_BUILD_TYPE=Release", "--toolchain",
             QATLAB_CORTEX_M4_TOOLCHAIN, Define("CMAKE_PREFIX_PATH", QATLAB_C_EXPORT_M4_PREFIX),
             "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror", Define("EXAMPLE_BOARD_SOURCES", QATLAB_C_EXPORT_M4_STARTUP),
             // newlib's printf may allocate a buffer: its heap starts after .bss.
             Define("EXAMPLE_LINK_OPTIONS",
                    std::string("-L") + QATLAB_FIRMWARE_LINKER_DIR +
                        ";-Tmps2_an386.ld;-nostartfiles;--specs=rdimon.specs;-Wl,--defsym=end=_bss_end")},
            seconds(120));
  RunOrFail({QATLAB_CMAKE_COMMAND, "--build", m4_build}, seconds(300));
  ASSERT_FALSE(HasFailure()) << "the Cortex-M4 example does not build";
  const std::string m4_program = m4_build + "/" + id + "_example";
  const std::string m4_out =
      RunOrFail({QATLAB_QEMU_SYSTEM_ARM, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "null",
                 "-semihosting-config", "enable=on,target=native", "-kernel", m4_program},
                seconds(120));
  EXPECT_EQ(LineStartingWith(m4_out, "logits:"), expected) << m4_out;
  EXPECT_EQ(LineStartingWith(m4_out, "kernels:"), "kernels: cortex-m-dsp") << m4_out;

  // In flash: the firmware's mps2-an386 script puts FLASH at 0 (4 MiB) and
  // RAM at 0x20000000, and .rodata inside the flash's .text section (so nm
  // says T or R), never in .data or .bss (D, B).
  const std::string symbols = RunOrFail({QATLAB_ARM_NONE_EABI_NM, m4_program}, seconds(30));
  const std::string model_symbol = " " + id + "_qmodel";
  std::istringstream lines(symbols);
  bool found = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < model_symbol.size() ||
        line.compare(line.size() - model_symbol.size(), model_symbol.size(), model_symbol) != 0) {
      continue;
    }
    found = true;
    const unsigned long address = std::stoul(line.substr(0, line.find(' ')), nullptr, 16);
    const char type = line[line.find(' ') + 1];
    EXPECT_LT(address, 0x400000ul) << line;
    EXPECT_EQ(address % 4, 0u) << line;
    EXPECT_TRUE(type == 'T' || type == 'R') << line;
  }
  EXPECT_TRUE(found) << model_symbol << " not in\n" << symbols;

  // Sizes for docs/benchmarks.md ("size" of each program).
  auto runner = IntegerRunner::Open(qmodel);
  ASSERT_TRUE(runner.ok());
  std::printf("%s (%zu-byte model, %lld-byte arena): host %s; cortex-m4 %s\n", c.preset.c_str(), qmodel.size(),
              static_cast<long long>(runner->arena_bytes()), SizeLine("size", host_program).c_str(),
              SizeLine(QATLAB_ARM_NONE_EABI_SIZE, m4_program).c_str());
}

INSTANTIATE_TEST_SUITE_P(Presets, CExportExample,
                         testing::Values(PresetCase{"mlp", 8}, PresetCase{"cnn", 8}, PresetCase{"cnn_bn", 4},
                                         PresetCase{"ds_cnn", 8}),
                         [](const testing::TestParamInfo<PresetCase>& info) { return info.param.preset; });

TEST(CExport, RefusesWhatIsNotAQmodel) {
  const std::string not_a_model = "{\"this is\": \"a JSON file, not a .qmodel\"}";
  auto files = ExportModel(not_a_model, ExportFormat::kC, "model");
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(files.status().message().rfind("not a valid .qmodel: ", 0), 0u) << files.status().message();
  EXPECT_EQ(files.status().message().find('\n'), std::string::npos) << files.status().message();
  auto empty = QmodelToC("", "model");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

TEST(CExport, RefusesADamagedQmodelAndASampleOfTheWrongSize) {
  auto bytes = WriteQModel(SeededDenseModel({16, 8, 4}, 7));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  const std::string qmodel = AsString(*bytes);
  ASSERT_TRUE(QmodelToC(qmodel, "tiny").ok());

  std::string damaged = qmodel;
  damaged[damaged.size() - 1] = static_cast<char>(damaged.back() ^ 0x55);
  auto refused = QmodelToC(damaged, "tiny");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "not a valid .qmodel: " + std::string(qk_status_name(QK_ERR_CRC)));
  auto truncated = QmodelToC(qmodel.substr(0, qmodel.size() / 2), "tiny");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);

  const std::vector<uint8_t> sample(15, 0);
  auto wrong_sample = QmodelToC(qmodel, "tiny", sample);
  ASSERT_FALSE(wrong_sample.ok());
  EXPECT_EQ(wrong_sample.status().message(), "C export: the sample has 15 values; the model's input has 16");
}

TEST(CExport, FilesAreNamedAfterTheModelAndDescribeIt) {
  auto bytes = WriteQModel(SeededDenseModel({16, 8, 4}, 7));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto files = ExportModel(AsString(*bytes), ExportFormat::kC, "tiny-mlp");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  std::map<std::string, std::string> by_name;
  for (const ExportedFile& file : *files) by_name[file.name] = file.contents;
  ASSERT_EQ(by_name.size(), 5u);
  for (const char* name : {"tiny_mlp_model.h", "tiny_mlp_model.c", "main.c", "CMakeLists.txt", "README.md"}) {
    EXPECT_EQ(by_name.count(name), 1u) << name;
  }
  const std::string& header = by_name["tiny_mlp_model.h"];
  EXPECT_NE(header.find("#define TINY_MLP_INPUT_BYTES 16u"), std::string::npos) << header;
  EXPECT_NE(header.find("#define TINY_MLP_OUTPUT_BYTES 4u"), std::string::npos) << header;
  EXPECT_NE(header.find("#define TINY_MLP_MODEL_BYTES " + std::to_string(bytes->size()) + "u"), std::string::npos);
  EXPECT_NE(header.find("qk_status tiny_mlp_run(const int8_t* input, int8_t* logits);"), std::string::npos);
  EXPECT_NE(by_name["CMakeLists.txt"].find("find_package(qatlab_kernels"), std::string::npos);
}

TEST(CExport, NamesBecomeCIdentifiers) {
  EXPECT_EQ(CExportIdentifier("cnn_bn"), "cnn_bn");
  EXPECT_EQ(CExportIdentifier("job-12 qat/w8a8"), "job_12_qat_w8a8");
  EXPECT_EQ(CExportIdentifier("8bit"), "model_8bit");
  EXPECT_EQ(CExportIdentifier("_x"), "model__x");
  EXPECT_EQ(CExportIdentifier(""), "model_");
  EXPECT_EQ(CExportIdentifier("caf\xc3\xa9"), "caf__");
}

}  // namespace
}  // namespace qatlab
