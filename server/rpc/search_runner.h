// Runs the server's searches (docs/search.md): one thread per search, each
// driving the one orchestrator (search_run/search_orchestrator.h) through an
// in-process channel to this server, authenticated with an internal token
// that exists only in this process's memory. Each step is recorded in the
// SearchStore as it happens (step, progress line, the jobs created); the
// outcome (SUCCEEDED with the result document, or FAILED with the error)
// when it ends.
//
// Restarts: Shutdown stops the threads without recording anything, so their
// searches stay RUNNING; ResumeUnfinished, at the next start, runs the
// orchestrator again for each, and its idempotency keys find the jobs and
// measurements the first run created.
//
// Cancellation (Stop): the search's thread stops at its next poll; a job it
// submitted after CancelSearch cancelled the others is cancelled by it.
// Thread-safety: any thread.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "qatlab/v1/resources.pb.h"
#include "server/store/job_store.h"
#include "server/store/search_store.h"
#include "status/status.h"

namespace qatlab::server {

class SearchRunner {
 public:
  // `token`: what the orchestrator presents ("" for an open server). The
  // stores must outlive the runner.
  SearchRunner(SearchStore& searches, JobStore& jobs, std::string token);
  ~SearchRunner();  // Shutdown()s

  // The channel the searches run over; starts those Start()ed before.
  void Attach(std::shared_ptr<grpc::Channel> channel);
  // Runs `search` in a thread of its own unless one already runs it.
  void Start(const v1::Search& search);
  // Starts every QUEUED and RUNNING search of the store (after a restart).
  Status ResumeUnfinished();
  // Tells the search's thread to stop (it was cancelled); no-op when none runs it.
  void Stop(const std::string& id);
  // Stops every thread and waits for them, recording nothing. Idempotent.
  void Shutdown();

 private:
  struct Run {
    v1::Search search;
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    std::thread thread;
  };
  void Launch(Run* run);  // REQUIRES: mutex_ held, channel_ set
  void Execute(Run* run);

  SearchStore& searches_;
  JobStore& jobs_;
  const std::string token_;
  std::atomic<bool> shutting_down_{false};
  std::mutex mutex_;
  std::shared_ptr<grpc::Channel> channel_;            // guarded by mutex_
  std::map<std::string, std::unique_ptr<Run>> runs_;  // guarded by mutex_
};

}  // namespace qatlab::server
