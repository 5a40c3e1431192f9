#include "server/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <exception>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "server/store/database.h"

namespace qatlab::server {
namespace {

// Seconds: from a few-second test job to a day-long sweep.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 86400};

// The label of a failure: the error's text before its first ':' ("lease
// expired", "training", ...), lower case, letters, digits and '_' only,
// at most 40 characters, so the label set stays small.
std::string FailureReason(const std::string& error) {
  std::string reason;
  for (char c : error.substr(0, error.find(':'))) {
    if (reason.size() >= 40) break;
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      reason.push_back(static_cast<char>(std::tolower(u)));
    } else if (!reason.empty() && reason.back() != '_') {
      reason.push_back('_');
    }
  }
  while (!reason.empty() && reason.back() == '_') reason.pop_back();
  return reason.empty() ? "unknown" : reason;
}

prometheus::ClientMetric GaugeValue(double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

}  // namespace

class JobMetricsCollector final : public prometheus::Collectable {
 public:
  JobMetricsCollector(std::unique_ptr<Database> database, int local_workers)
      : database_(std::move(database)), local_workers_(local_workers) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mutex_);
    static const char* const kStates[] = {"", "queued", "running", "succeeded", "failed", "cancelled"};
    std::map<int64_t, int64_t> per_state;
    prometheus::Histogram job_durations(kDurationBuckets);
    prometheus::Histogram lease_durations(kDurationBuckets);
    std::map<std::string, int64_t> failures;
    int64_t busy_workers = 0;
    {
      Statement count = database_->Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state");
      while (count.Step()) per_state[count.ColumnInt(0)] = count.ColumnInt(1);
      if (!count.status().ok()) spdlog::warn("metrics: {}", count.status().ToString());
    }
    {
      Statement finished = database_->Prepare(
          "SELECT created_unix_ms, started_unix_ms, finished_unix_ms, state, error FROM jobs "
          "WHERE state >= 3 AND finished_unix_ms > 0");
      while (finished.Step()) {
        const int64_t created = finished.ColumnInt(0), started = finished.ColumnInt(1), ended = finished.ColumnInt(2);
        job_durations.Observe(static_cast<double>(ended - created) / 1000.0);
        if (started > 0) lease_durations.Observe(static_cast<double>(ended - started) / 1000.0);
        if (finished.ColumnInt(3) == 4) ++failures[FailureReason(finished.ColumnText(4))];
      }
      if (!finished.status().ok()) spdlog::warn("metrics: {}", finished.status().ToString());
    }
    {
      Statement busy = database_->Prepare("SELECT COUNT(DISTINCT worker_id) FROM jobs WHERE state = 2");
      if (busy.Step()) busy_workers = busy.ColumnInt(0);
    }

    std::vector<prometheus::MetricFamily> families;
    prometheus::MetricFamily jobs{
        "qatlab_jobs", "Jobs in each state (queued: the queue depth).", prometheus::MetricType::Gauge, {}};
    for (int64_t state = 1; state <= 5; ++state) {
      jobs.metric.push_back(GaugeValue(static_cast<double>(per_state[state]), {{"state", kStates[state]}}));
    }
    families.push_back(std::move(jobs));
    families.push_back({"qatlab_job_duration_seconds",
                        "Submission to end of every finished job.",
                        prometheus::MetricType::Histogram,
                        {job_durations.Collect()}});
    families.push_back({"qatlab_lease_duration_seconds",
                        "Lease to end of the lease that finished each job.",
                        prometheus::MetricType::Histogram,
                        {lease_durations.Collect()}});
    families.push_back({"qatlab_workers_busy",
                        "Workers holding a job's lease.",
                        prometheus::MetricType::Gauge,
                        {GaugeValue(static_cast<double>(busy_workers))}});
    families.push_back({"qatlab_local_workers",
                        "Worker processes this server supervises (--local-workers).",
                        prometheus::MetricType::Gauge,
                        {GaugeValue(local_workers_)}});
    prometheus::MetricFamily failed{"qatlab_job_failures_total",
                                    "Failed jobs by reason (the error's text before its first ':').",
                                    prometheus::MetricType::Counter,
                                    {}};
    for (const auto& [reason, n] : failures) {
      prometheus::ClientMetric metric;
      metric.label = {{"reason", reason}};
      metric.counter.value = static_cast<double>(n);
      failed.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(failed));
    return families;
  }

 private:
  mutable std::mutex mutex_;
  const std::unique_ptr<Database> database_;  // guarded by mutex_
  const int local_workers_;
};

StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& listen,
                                                                  const std::string& database_path, int local_workers) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> database, Database::Open(database_path));
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->collector_ = std::make_shared<JobMetricsCollector>(std::move(database), local_workers);
  try {
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("--metrics-listen " + listen + ": cannot serve there (" + e.what() + ")");
  }
  endpoint->exposer_->RegisterCollectable(endpoint->collector_);
  std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  endpoint->port_ = ports.empty() ? 0 : ports.front();
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace qatlab::server
