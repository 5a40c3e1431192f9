#include "tests/support/onnxruntime.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "process/child_process.h"
#include "tests/support/temp_dir.h"

namespace qatlab::test_support {
namespace {

constexpr const char* kOnnxruntimeVersion = "1.31.1";

std::string CacheDir() {
  if (const char* dir = std::getenv("QATLAB_DATA_CACHE"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/qatlab";
}

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> OnnxruntimeNodeDir() {
  const std::string dir = CacheDir() + "/onnxruntime-node-" + kOnnxruntimeVersion;
  const std::string marker = dir + "/node_modules/onnxruntime-node/package.json";
  if (std::filesystem::exists(marker)) return dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
  // flock serialises parallel tests; the second finds the package installed.
  const std::string script = "test -f '" + marker +
                             "' || npm install --ignore-scripts --no-audit --no-fund --loglevel=error "
                             "--update-notifier=false --prefix '" +
                             dir + "' onnxruntime-node@" + kOnnxruntimeVersion;
  ChildSpec spec;
  spec.argv = {"flock", dir + "/.install.lock", "sh", "-c", script};
  QATLAB_ASSIGN_OR_RETURN(const CapturedRun run, RunToCompletion(spec, std::chrono::minutes(5)));
  if (run.exit_status != 0 || !std::filesystem::exists(marker)) {
    return Status::Unavailable("cannot install onnxruntime-node through npm into " + dir + ": " + run.err);
  }
  return dir;
}

StatusOr<OnnxruntimeRun> RunOnnxruntime(const OnnxruntimeRequest& request, const std::string& work_dir) {
  QATLAB_ASSIGN_OR_RETURN(const std::string ort_dir, OnnxruntimeNodeDir());
  const std::string input_path = work_dir + "/ort_input.bin";
  const std::string output_path = work_dir + "/ort_output.bin";
  const std::string request_path = work_dir + "/ort_request.json";
  QATLAB_RETURN_IF_ERROR(WriteFile(input_path, request.input_bytes));
  nlohmann::json json = {{"model", request.model_path},      {"input_file", input_path},
                         {"input_type", request.input_type}, {"dims", request.dims},
                         {"output_file", output_path},       {"optimization", request.optimization}};
  if (!request.optimized_model_path.empty()) json["optimized_model"] = request.optimized_model_path;
  QATLAB_RETURN_IF_ERROR(WriteFile(request_path, json.dump()));

  ChildSpec spec;
  spec.argv = {"node", std::string(QATLAB_SOURCE_DIR) + "/tests/onnxruntime/run_model.cjs", ort_dir, request_path};
  QATLAB_ASSIGN_OR_RETURN(const CapturedRun run, RunToCompletion(spec, std::chrono::minutes(2)));
  if (run.exit_status != 0) {
    return Status::Internal("onnxruntime failed on " + request.model_path + ": " + run.err);
  }
  OnnxruntimeRun result;
  try {
    const nlohmann::json reply = nlohmann::json::parse(run.out);
    result.output_dims = reply.at("output_dims").get<std::vector<int64_t>>();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("onnxruntime's reply is not JSON: ") + e.what() + ": " + run.out);
  }
  const std::string bytes = ReadWholeFile(output_path);
  result.output.resize(bytes.size() / sizeof(float));
  std::memcpy(result.output.data(), bytes.data(), result.output.size() * sizeof(float));
  return result;
}

StatusOr<OnnxruntimeRun> RunOnnxruntime(const std::string& model_path, const std::vector<float>& input,
                                        const std::vector<int64_t>& dims, const std::string& work_dir) {
  OnnxruntimeRequest request;
  request.model_path = model_path;
  request.input_bytes.assign(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float));
  request.dims = dims;
  return RunOnnxruntime(request, work_dir);
}

}  // namespace qatlab::test_support
