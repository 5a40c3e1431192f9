// A job too large for a worker's memory fails once, with a message saying
// so. Left alone, std::bad_alloc aborts the worker: its supervisor restarts
// it, the lease expires, and the same job is handed out again until its
// attempts run out, stalling every other job behind the restart back-off.
#pragma once

#include <new>
#include <utility>

#include "status/status.h"

namespace qatlab {

// What `run()` returns, or ResourceExhausted when it threw std::bad_alloc
// (by then the memory it held is released). The worker reports
// ResourceExhausted as a non-retryable failure: another attempt would need
// the same memory.
template <typename Run>
auto ReportAllocationFailure(Run&& run) -> decltype(run()) {
  try {
    return std::forward<Run>(run)();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(
        "out of memory: the job needs more memory than this worker could allocate (std::bad_alloc); "
        "use a smaller model, training.batch_size or data set");
  }
}

}  // namespace qatlab
