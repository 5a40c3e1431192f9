#include "worker/job_log.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

namespace qatlab {

JobLogSink::JobLogSink(size_t limit_bytes) : limit_bytes_(limit_bytes) {
  set_formatter(
      std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
}

std::shared_ptr<JobLogSink> JobLogSink::InstallOnDefaultLogger(size_t limit_bytes) {
  auto sink = std::make_shared<JobLogSink>(limit_bytes);
  spdlog::default_logger()->sinks().push_back(sink);
  return sink;
}

void JobLogSink::Begin() {
  std::lock_guard lock(mutex_);
  capturing_ = true;
  text_.clear();
  dropped_bytes_ = 0;
}

std::string JobLogSink::End() {
  std::lock_guard lock(mutex_);
  capturing_ = false;
  std::string text;
  if (dropped_bytes_ > 0) {
    text = fmt::format("[{} bytes of earlier log dropped: the log keeps its last {} bytes]\n", dropped_bytes_,
                       limit_bytes_);
  }
  text += text_;
  text_.clear();
  text_.shrink_to_fit();
  return text;
}

void JobLogSink::sink_it_(const spdlog::details::log_msg& message) {
  if (!capturing_) return;
  spdlog::memory_buf_t formatted;
  formatter_->format(message, formatted);
  text_.append(formatted.data(), formatted.size());
  // Trim in steps of a quarter of the limit, so that a long job does not
  // move the buffer at every line; whole lines only.
  if (text_.size() <= limit_bytes_ + limit_bytes_ / 4) return;
  size_t cut = text_.size() - limit_bytes_;
  const size_t newline = text_.find('\n', cut);
  cut = newline == std::string::npos ? text_.size() : newline + 1;
  text_.erase(0, cut);
  dropped_bytes_ += cut;
}

}  // namespace qatlab
