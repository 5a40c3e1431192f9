// qatlab-onnx-inspect: InspectOnnxModel on the model read from stdin, in a
// process of its own (onnx_inspector.h says why and speaks the protocol).
//   qatlab-onnx-inspect [--max-memory-mib N] [--max-cpu-seconds N] < model.onnx
// Exit 0: the summary on stdout; 1: the model is refused, the reason on
// stdout; 3: out of memory; 2: usage. A crash ends it with its signal.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <new>
#include <string>

#include "model_import/onnx_import.h"
#include "model_import/onnx_inspector.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(QATLAB_TSAN)
#define QATLAB_INSPECTOR_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QATLAB_INSPECTOR_SANITIZED 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
// A fault in libonnx must end this process with its signal, as in a release
// build, so that the caller reports the same crash: ASan would otherwise
// catch SIGSEGV/SIGFPE, print a report and exit 1, which reads as "refused".
extern "C" const char* __asan_default_options() { return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0"; }
#endif
// The tsan preset undefines __SANITIZE_THREAD__ (CMakePresets.json says why) and defines QATLAB_TSAN.
#if defined(__SANITIZE_THREAD__) || defined(QATLAB_TSAN)
extern "C" const char* __tsan_default_options() { return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0"; }
#endif

namespace {

bool SetLimit(int resource, rlim_t value) {
  const rlimit limit{value, value};
  return ::setrlimit(resource, &limit) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  long long memory_mib = 0, cpu_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc || (flag != "--max-memory-mib" && flag != "--max-cpu-seconds")) {
      std::fprintf(stderr, "usage: qatlab-onnx-inspect [--max-memory-mib N] [--max-cpu-seconds N] < model.onnx\n");
      return qatlab::kInspectorUsage;
    }
    (flag == "--max-memory-mib" ? memory_mib : cpu_seconds) = std::atoll(argv[++i]);
  }
  // No core file for a crash that is expected on hostile input.
  SetLimit(RLIMIT_CORE, 0);
  if (cpu_seconds > 0) SetLimit(RLIMIT_CPU, static_cast<rlim_t>(cpu_seconds));
#ifndef QATLAB_INSPECTOR_SANITIZED
  if (memory_mib > 0) SetLimit(RLIMIT_AS, static_cast<rlim_t>(memory_mib) << 20);
#endif
  try {
    const std::string bytes{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    const qatlab::StatusOr<qatlab::OnnxModelSummary> summary = qatlab::InspectOnnxModel(bytes);
    if (!summary.ok()) {
      std::cout << summary.status().message() << '\n';
      return qatlab::kInspectorModelInvalid;
    }
    std::cout << qatlab::FormatOnnxModelSummary(*summary);
    return qatlab::kInspectorModelOk;
  } catch (const std::bad_alloc&) {
    std::cout << "out of memory (limit " << memory_mib << " MiB)\n";
    return qatlab::kInspectorOutOfMemory;
  }
}
