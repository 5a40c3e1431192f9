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
//
// Time limit (Search.deadline_unix_ms, from SubmitSearchRequest.timeout_seconds):
// the thread polls the deadline with its stop flag (at least once a second
// while it waits, and before it begins, so a search resumed after its
// deadline stops at once); past it, the search's unfinished jobs and
// measurements are cancelled as CancelSearch cancels them, and the search
// ends FAILED with "search timed out after N s in step <step>". FAILED, not
// CANCELLED: nobody cancelled it; it did not finish within its own limit.
// The deadline is absolute and stored, so it holds across restarts.
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
#include "server/store/clock.h"
#include "server/store/device_store.h"
#include "server/store/job_store.h"
#include "server/store/search_store.h"
#include "status/status.h"

namespace qatlab::server {

// Cancels the jobs `search` created that have not finished and their QUEUED
// or RUNNING measurements (`devices` may be null: no measurements). What
// CancelSearch and a timed-out search do; a job or measurement that finished
// meanwhile is left as it is.
void CancelSearchJobs(JobStore& jobs, DeviceStore* devices, const v1::Search& search);

class SearchRunner {
 public:
  // `token`: what the orchestrator presents ("" for an open server).
  // `clock`: the one the SearchStore stamps created_unix_ms (and so the
  // deadline) with. The stores and the clock must outlive the runner;
  // `devices` may be null.
  SearchRunner(SearchStore& searches, JobStore& jobs, DeviceStore* devices, const Clock& clock, std::string token);
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

  // Records the end of a search that passed its deadline.
  void FinishTimedOut(const std::string& id);

  SearchStore& searches_;
  JobStore& jobs_;
  DeviceStore* const devices_;
  const Clock& clock_;
  const std::string token_;
  std::atomic<bool> shutting_down_{false};
  std::mutex mutex_;
  std::shared_ptr<grpc::Channel> channel_;            // guarded by mutex_
  std::map<std::string, std::unique_ptr<Run>> runs_;  // guarded by mutex_
};

}  // namespace qatlab::server
