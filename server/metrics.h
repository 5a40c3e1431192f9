// The Prometheus endpoint of qatlab-server (--metrics-listen HOST:PORT; off
// by default). GET /metrics answers in the text exposition format with
// figures read from the job queue's database at scrape time, so they are
// right after a restart and need no hooks in the store:
//   qatlab_jobs{state}                    gauge: jobs per state (queue depth)
//   qatlab_job_duration_seconds           histogram: submission to end, of
//                                         every finished job
//   qatlab_lease_duration_seconds         histogram: lease to end of the
//                                         lease that finished each job
//   qatlab_workers_busy                   gauge: workers holding a lease
//   qatlab_local_workers                  gauge: workers the server supervises
//   qatlab_job_failures_total{reason}     counter: failed jobs by reason (the
//                                         error's text before its first ':',
//                                         as a bounded label, "unknown" if none)
// Histograms and counters are recomputed from the rows, so deleting jobs
// makes them fall (a counter reset to Prometheus, which rate() tolerates).
//
// Thread safety: scrapes run on the HTTP server's threads; the endpoint has
// its own SQLite connection behind a mutex.
#pragma once

#include <memory>
#include <string>

#include "status/status.h"

namespace prometheus {
class Exposer;
}

namespace qatlab::server {

class JobMetricsCollector;

class MetricsEndpoint {
 public:
  // Serves /metrics on `listen` ("127.0.0.1:9464"; port 0 picks a free one)
  // over the database at `database_path`. InvalidArgument when `listen`
  // cannot be bound.
  static StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& listen, const std::string& database_path,
                                                          int local_workers);
  ~MetricsEndpoint();

  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;

  std::shared_ptr<JobMetricsCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace qatlab::server
