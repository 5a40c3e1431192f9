// The one orchestrator of a mixed-precision search (docs/search.md), over the
// public ExperimentService API on a gRPC channel:
//   1. one job (skip_qat) trains the float baseline and quantizes it for the
//      probe configurations of search/probe_plan.h (SensitivityJobSpec);
//   2. its uniform w8/w4/w2 PTQ models and the mixed probe are measured on a
//      board of the kind (per-layer cycles);
//   3. search/bit_width_search.h solves for the predicted Pareto front of
//      the ranking measure (HAWQ score or PTQ drops) against the costs under
//      the budgets and picks K candidates along it;
//   4. the candidates and the uniform w8, w4, w2 configurations are
//      QAT-trained from the sensitivity job's float model and measured on the
//      board (SubmitCandidateJobs), outputs checked bit-exact;
//   5. the result document (JSON) of predicted against measured.
// The server runs it in a thread per search (server/search_runner.h) through
// an in-process channel to itself. search/ stays free of gRPC; this library
// is the gRPC side.
//
// Resumption: every job is submitted with an idempotency key made of the
// search id and the step (SearchJobKey), and a probe is measured only when
// the job has no measurement of that variant on that board yet; so running
// the orchestrator again for the same search (after a server restart) finds
// the same jobs and measurements instead of creating new ones, and, since
// every step is deterministic given their results, picks the same
// candidates.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "qatlab/v1/job.pb.h"
#include "search/bit_width_search.h"
#include "status/status.h"

namespace qatlab::search_run {

// What one search is asked.
struct SearchParameters {
  std::string search_id;  // "se-...": keys the jobs' idempotency keys and labels
  v1::JobSpec spec;       // the user's job: model, data, training, seed
  std::string board_kind;
  search::Budgets budgets;
  int candidates = 8;  // REQUIRES: 1..60
  // What the front and the candidates are ranked by; kHawqScore needs the
  // sensitivity job's Hessian traces (the search fails after the probes
  // without them, naming the fix).
  search::RankingMeasure ranking = search::RankingMeasure::kHawqScore;
  int weighted_layers = 0;      // of spec.model; REQUIRES: >= 1
  int64_t created_unix_ms = 0;  // when the search was submitted (its wall time counts from there)
};

// Hears the search's progress and decides whether it goes on.
// Thread-safety: called from the orchestrator's thread only.
class SearchObserver {
 public:
  virtual ~SearchObserver() = default;
  // A step began or moved on: `step` is "sensitivity", "probes", "solve" or
  // "verify"; `line` one line on it. A non-OK status stops the search with it.
  virtual Status Progress(const std::string& step, const std::string& line) = 0;
  // A job of the search was created, or found again by its key. A non-OK
  // status (the search was cancelled meanwhile) stops the search with it.
  virtual Status JobCreated(const std::string& job_id, bool sensitivity) = 0;
  // Polled before the search begins and while it waits: true stops the
  // search with Cancelled.
  virtual bool StopRequested() = 0;
};

struct SearchConnection {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;                    // sent as "authorization: Bearer <token>"; empty: none
  int timeout_ms = 30000;               // of each unary call
  std::chrono::milliseconds poll{500};  // between polls of measurements
};

// "<search_id>/<step>": the idempotency key of the search's job for `step`
// ("sensitivity", "verify/cand0", "verify/w8a8", ...).
std::string SearchJobKey(const std::string& search_id, const std::string& step);

// Runs the search to its end. Returns the result document (docs/search.md,
// "The result document"): what qatctl search writes to OUTPUT.json.
// Errors: the failing call's status with what it was doing; InvalidArgument
// naming the smallest reachable costs when nothing meets the budgets;
// Cancelled when the observer asked to stop.
StatusOr<std::string> RunSearch(const SearchConnection& connection, const SearchParameters& parameters,
                                SearchObserver& observer);

}  // namespace qatlab::search_run
