#include "server/rpc/search_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "search_run/search_orchestrator.h"
#include "server_client/server_link.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace {

// Records a search's progress in the store; the store's refusal (the search
// was cancelled) stops it, and so does its deadline passing.
class RecordingObserver final : public search_run::SearchObserver {
 public:
  RecordingObserver(SearchStore& searches, JobStore& jobs, const v1::Search& search, const Clock& clock,
                    const std::atomic<bool>& stop, const std::atomic<bool>& shutting_down)
      : searches_(searches),
        jobs_(jobs),
        id_(search.id()),
        deadline_unix_ms_(search.deadline_unix_ms()),
        clock_(clock),
        stop_(stop),
        shutting_down_(shutting_down) {}

  Status Progress(const std::string& step, const std::string& line) override {
    spdlog::info("search {}: {}", id_, PrintableValue(line));
    return searches_.Update(id_, [&](v1::Search* search) {
      search->set_step(step);
      search->set_progress(line);
      search->add_log(line);
    });
  }

  Status JobCreated(const std::string& job_id, bool sensitivity) override {
    Status recorded = searches_.Update(id_, [&](v1::Search* search) {
      if (sensitivity) search->set_sensitivity_job_id(job_id);
      const auto& ids = search->job_ids();
      if (std::find(ids.begin(), ids.end(), job_id) == ids.end()) search->add_job_ids(job_id);
    });
    if (!recorded.ok()) {
      // Cancelled after CancelSearch cancelled the jobs it knew: this one
      // is cancelled here (an error only means it has finished already).
      StatusOr<v1::Job> cancelled = jobs_.Cancel(job_id);
      (void)cancelled;
    }
    return recorded;
  }

  bool StopRequested() override {
    if (deadline_unix_ms_ > 0 && clock_.NowUnixMs() >= deadline_unix_ms_) timed_out_ = true;
    return timed_out_ || stop_.load() || shutting_down_.load();
  }

  // True once StopRequested found the deadline passed.
  bool TimedOut() const { return timed_out_; }

 private:
  SearchStore& searches_;
  JobStore& jobs_;
  const std::string id_;
  const int64_t deadline_unix_ms_;  // 0: none
  const Clock& clock_;
  const std::atomic<bool>& stop_;
  const std::atomic<bool>& shutting_down_;
  bool timed_out_ = false;
};

search::RankingMeasure RankingOf(v1::Search::RankBy rank_by) {
  // UNSPECIFIED in a stored search: one stored before the option, which
  // ranked by the PTQ drops (SubmitSearch stores the resolved choice).
  return rank_by == v1::Search::RANK_BY_HAWQ ? search::RankingMeasure::kHawqScore : search::RankingMeasure::kPtqDrop;
}

search::Budgets BudgetsOf(const v1::SearchBudgets& budgets) {
  search::Budgets out;
  if (budgets.has_max_flash_bytes()) out.max_flash_bytes = budgets.max_flash_bytes();
  if (budgets.has_max_ram_bytes()) out.max_ram_bytes = budgets.max_ram_bytes();
  if (budgets.has_max_latency_ms()) out.max_latency_ms = budgets.max_latency_ms();
  return out;
}

}  // namespace

void CancelSearchJobs(JobStore& jobs, DeviceStore* devices, const v1::Search& search) {
  for (const std::string& job_id : search.job_ids()) {
    // A job that has finished refuses (FailedPrecondition): nothing to do.
    StatusOr<v1::Job> cancelled = jobs.Cancel(job_id);
    (void)cancelled;
    if (devices == nullptr) continue;
    StatusOr<std::vector<v1::Measurement>> measurements = devices->ListMeasurements(job_id);
    if (!measurements.ok()) continue;
    for (const v1::Measurement& m : *measurements) {
      if (m.state() == "QUEUED" || m.state() == "RUNNING") {
        StatusOr<v1::Measurement> stopped = devices->Cancel(m.id());
        (void)stopped;
      }
    }
  }
}

SearchRunner::SearchRunner(SearchStore& searches, JobStore& jobs, DeviceStore* devices, const Clock& clock,
                           std::string token)
    : searches_(searches), jobs_(jobs), devices_(devices), clock_(clock), token_(std::move(token)) {}

SearchRunner::~SearchRunner() { Shutdown(); }

void SearchRunner::Attach(std::shared_ptr<grpc::Channel> channel) {
  std::lock_guard lock(mutex_);
  channel_ = std::move(channel);
  for (auto& [id, run] : runs_) {
    if (!run->thread.joinable()) Launch(run.get());
  }
}

void SearchRunner::Start(const v1::Search& search) {
  if (shutting_down_.load()) return;
  std::lock_guard lock(mutex_);
  auto at = runs_.find(search.id());
  if (at != runs_.end()) {
    if (!at->second->done.load()) return;  // already running it
    if (at->second->thread.joinable()) at->second->thread.join();
    runs_.erase(at);
  }
  // Threads of finished searches are joined here, so they do not pile up.
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second->done.load() && it->second->thread.joinable()) {
      it->second->thread.join();
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  auto run = std::make_unique<Run>();
  run->search = search;
  Run* raw = run.get();
  runs_.emplace(search.id(), std::move(run));
  if (channel_) Launch(raw);
}

Status SearchRunner::ResumeUnfinished() {
  QATLAB_ASSIGN_OR_RETURN(std::vector<v1::Search> unfinished, searches_.Unfinished());
  for (const v1::Search& search : unfinished) {
    spdlog::info("search {}: resuming ({}, step {})", search.id(), v1::JobState_Name(search.state()),
                 search.step().empty() ? "none yet" : search.step());
    Start(search);
  }
  return Status::Ok();
}

void SearchRunner::Stop(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto at = runs_.find(id);
  if (at != runs_.end()) at->second->stop = true;
}

void SearchRunner::Shutdown() {
  shutting_down_ = true;
  std::map<std::string, std::unique_ptr<Run>> runs;
  {
    std::lock_guard lock(mutex_);
    runs.swap(runs_);
  }
  for (auto& [id, run] : runs) {
    if (run->thread.joinable()) run->thread.join();
  }
}

void SearchRunner::Launch(Run* run) {
  run->thread = std::thread([this, run] {
    Execute(run);
    run->done = true;
  });
}

void SearchRunner::Execute(Run* run) {
  const v1::Search& search = run->search;
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard lock(mutex_);
    channel = channel_;
  }
  search_run::SearchConnection connection;
  connection.channel = channel;
  connection.token = token_;
  search_run::SearchParameters parameters;
  parameters.search_id = search.id();
  parameters.spec = search.spec();
  parameters.board_kind = search.board_kind();
  parameters.budgets = BudgetsOf(search.budgets());
  parameters.candidates = search.candidates();
  parameters.ranking = RankingOf(search.rank_by());
  parameters.weighted_layers = search.weighted_layers();
  parameters.created_unix_ms = search.created_unix_ms();
  RecordingObserver observer(searches_, jobs_, search, clock_, run->stop, shutting_down_);

  StatusOr<std::string> result = search_run::RunSearch(connection, parameters, observer);
  // Stopped by a shutdown: left RUNNING, to be resumed at the next start.
  if (shutting_down_.load()) return;
  // Cancelled (CancelSearch recorded it): whatever stopped it, it stays so.
  if (run->stop.load()) {
    spdlog::info("search {}: stopped (cancelled)", search.id());
    return;
  }
  if (!result.ok() && observer.TimedOut()) {
    FinishTimedOut(search.id());
    return;
  }
  Status finished = result.ok() ? searches_.Finish(search.id(), v1::SUCCEEDED, *result, "")
                                : searches_.Finish(search.id(), v1::FAILED, "", DescribeStatus(result.status()));
  if (result.ok()) {
    spdlog::info("search {}: SUCCEEDED", search.id());
  } else {
    spdlog::info("search {}: ended: {}", search.id(), PrintableValue(DescribeStatus(result.status())));
  }
  // A cancelled search refuses the outcome: it stays CANCELLED.
  if (!finished.ok() && finished.code() != StatusCode::kCancelled) {
    spdlog::error("search {}: recording its outcome: {}", search.id(), finished.ToString());
  }
}

void SearchRunner::FinishTimedOut(const std::string& id) {
  StatusOr<v1::Search> search = searches_.Get(id);
  if (!search.ok()) {
    spdlog::error("search {}: reading it after its deadline: {}", id, search.status().ToString());
    return;
  }
  // The jobs first: a crash before the outcome is recorded leaves the search
  // RUNNING, and the next start finds it past its deadline and does this again.
  CancelSearchJobs(jobs_, devices_, *search);
  // Before its first progress line the search is submitting its sensitivity job.
  const std::string step = search->step().empty() ? "sensitivity" : search->step();
  const std::string error = fmt::format("search timed out after {} s in step {}", search->timeout_seconds(), step);
  spdlog::info("search {}: {}; its unfinished jobs and measurements cancelled", id, error);
  Status finished = searches_.Finish(id, v1::FAILED, "", error);
  // A cancel that came meanwhile wins: it stays CANCELLED.
  if (!finished.ok() && finished.code() != StatusCode::kCancelled) {
    spdlog::error("search {}: recording its outcome: {}", id, finished.ToString());
  }
}

}  // namespace qatlab::server
