// InspectOnnxModel (onnx_import.h) in a child process, for bytes from a
// user. Debian's libonnx 1.12 crashes (SIGSEGV in its shape inference) on
// some hostile models, and a crash inside the server or a worker would take
// the whole process down. The check therefore runs in `qatlab-onnx-inspect`,
// a small program that reads the model on stdin, under a wall-clock, CPU and
// address-space limit; whatever happens to it, the caller gets one Status.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "model_import/onnx_import.h"
#include "status/status.h"

namespace qatlab {

struct OnnxInspectorLimits {
  // Wall clock for the whole check; the CPU limit is the same number of
  // seconds. A valid MNIST-sized model takes milliseconds.
  std::chrono::milliseconds timeout{20000};
  // Address space of the inspector: this many MiB plus 8 bytes per byte of
  // the model (parsing copies it a few times). Not applied in sanitizer
  // builds, whose shadow memory needs terabytes of address space.
  int64_t base_memory_mib = 1024;
};

// Finds the inspector program. Looks, in order, at $QATLAB_ONNX_INSPECTOR
// (must be executable when set), <prefix>/<libexecdir>/qatlab/ beside the
// running program's <prefix>/<bindir>/ (an install), the running program's
// folder, ../model_import/ from it (the build tree's server/ and worker/),
// and the build tree this library was built in (tests that run the server in
// their own process). Errors: NotFound naming every place it looked.
StatusOr<std::string> FindOnnxInspector();

// As InspectOnnxModel, in a child process. Errors: InvalidArgument for a
// model that fails the checks (InspectOnnxModel's message) and for one that
// makes the inspector crash, exceed a limit or fail otherwise ("the ONNX
// model could not be checked: the inspector crashed (signal 11)"); the
// errors of FindOnnxInspector and ChildProcess::Start when the inspector
// cannot be run (a broken installation, not a bad model).
StatusOr<OnnxModelSummary> InspectOnnxModelInChild(std::string_view bytes, const OnnxInspectorLimits& limits = {});

// ImportOnnxModelFile for a file a user gave (a job's model.onnx on a
// worker): the checks run in the inspector first, so a model that crashes
// libonnx fails the job with InvalidArgument (not retried) instead of ending
// the worker on every attempt; then the import runs in this process. Errors
// as ImportOnnxModelFile and InspectOnnxModelInChild, prefixed with the path.
StatusOr<ImportedModel> ImportOnnxModelFileCheckedInChild(const std::string& path,
                                                          const OnnxInspectorLimits& limits = {});

// The inspector's side of the protocol (onnx_inspector_main.cc): the
// summary as "key value" lines on stdout, and its parser.
std::string FormatOnnxModelSummary(const OnnxModelSummary& summary);
StatusOr<OnnxModelSummary> ParseOnnxModelSummary(std::string_view text);

// Exit codes of qatlab-onnx-inspect.
inline constexpr int kInspectorModelOk = 0;
inline constexpr int kInspectorModelInvalid = 1;  // stdout: the reason
inline constexpr int kInspectorOutOfMemory = 3;   // stdout: the limit
inline constexpr int kInspectorUsage = 2;

}  // namespace qatlab
