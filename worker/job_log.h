// The worker's log of one job attempt: its own log lines (spdlog) from the
// lease to the end of the attempt, kept in memory and uploaded as the job's
// artifact `worker-attempt-<N>.log` (server_client/worker_log_name.h) when the attempt ends, completed or
// failed, so that `qatctl logs JOB` shows why an attempt went as it did.
//
// A sink on the default logger that captures only between Begin and End; the
// lines still go to stderr as before. Bounded: past `limit_bytes` the oldest
// lines are dropped and the text starts with a line saying how much was.
//
// Thread-safety: every method may be called from any thread (spdlog's sink
// mutex guards the buffer).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace qatlab {

class JobLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Lines are formatted as "<UTC time> <level> <message>".
  explicit JobLogSink(size_t limit_bytes);

  // Adds a new sink to spdlog's default logger and returns it.
  // REQUIRES: called before any other thread logs (the logger's sink list is
  // not guarded).
  static std::shared_ptr<JobLogSink> InstallOnDefaultLogger(size_t limit_bytes);

  // Starts capturing, dropping anything captured before.
  void Begin();
  // Stops capturing and returns what was captured since Begin.
  std::string End();

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override;
  void flush_() override {}

 private:
  const size_t limit_bytes_;
  bool capturing_ = false;    // guarded by mutex_
  std::string text_;          // guarded by mutex_
  size_t dropped_bytes_ = 0;  // guarded by mutex_
};

}  // namespace qatlab
