// A search's ranking measure and time limit through the API (an in-process
// server, real gRPC and SQLite, no workers; the server's clock a ManualClock,
// so a deadline passes when the test says, not after a sleep): the ranking
// is stored as resolved (HAWQ unless PTQ is asked for) and bad values are
// refused naming the field; a HAWQ search whose sensitivity job has no
// traces fails naming the fix; a search past its deadline has its jobs and
// measurements cancelled and ends FAILED naming the limit and the step, also
// when the deadline passed while the server was down.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "digest/sha256.h"
#include "search/probe_plan.h"
#include "server/store/clock.h"
#include "tests/server/server_fixture.h"
#include "tests/server/test_support.h"
#include "tests/support/wait_until.h"

namespace qatlab::server::testing {
namespace {

using test_support::WaitUntil;

constexpr int64_t kStartUnixMs = 1'800'000'000'000;

class SearchOptionsApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer(&clock_);
    RegisterBoard("board-1", "mps2-an386");
  }

  static v1::SubmitSearchRequest Request() { return SmallSearchRequest("search options", 2); }

  grpc::Status Submit(const v1::SubmitSearchRequest& request, v1::Search* search) {
    return experiments_->SubmitSearch(Context().get(), request, search);
  }

  // Submits `request` and waits for its sensitivity job.
  v1::Search Started(const v1::SubmitSearchRequest& request) {
    v1::Search submitted;
    grpc::Status status = Submit(request, &submitted);
    EXPECT_TRUE(status.ok()) << status.error_message();
    v1::Search search;
    EXPECT_TRUE(WaitUntil(
        [&] {
          search = GetSearch(submitted.id());
          return !search.sensitivity_job_id().empty() && search.step() == "sensitivity";
        },
        std::chrono::seconds(30), "the search submitting its sensitivity job"));
    return search;
  }

  // Waits for the search to finish; returns it.
  v1::Search Finished(const std::string& id) {
    v1::Search search;
    EXPECT_TRUE(WaitUntil(
        [&] {
          search = GetSearch(id);
          return search.state() != v1::QUEUED && search.state() != v1::RUNNING;
        },
        std::chrono::seconds(30), "the search ending"));
    return search;
  }

  // Plays the worker of the sensitivity job: uploads a model for each
  // variant the search measures and completes the job with them (and, with
  // `traces`, Hessian traces of the cnn's 3 weighted layers), so the search
  // moves on to measuring its probes.
  void CompleteSensitivityJob(const std::string& job_id, bool traces = true) {
    v1::LeaseJobResponse lease = Lease();
    ASSERT_EQ(lease.job().id(), job_id);
    v1::JobResult result = ResultFor(job_id);
    for (int l = 0; traces && l < 3; ++l) {
      v1::LayerHessian* layer = result.add_layer_hessian();
      layer->set_weighted_layer(l);
      layer->set_omega_w8(0.01);
      layer->set_omega_w4(0.1);
      layer->set_omega_w2(1);
    }
    for (const std::string& config : {search::UniformConfigName(8), search::UniformConfigName(4),
                                      search::UniformConfigName(2), std::string(search::kMixedProbeName)}) {
      const std::string model = "qmodel of " + config;
      const std::string artifact = "ptq_" + config + ".qmodel";
      grpc::Status uploaded = UploadModel(job_id, lease.lease_id(), artifact, model, 1024);
      ASSERT_TRUE(uploaded.ok()) << uploaded.error_message();
      v1::VariantResult* variant = result.add_variants();
      variant->set_name("ptq_" + config);
      variant->set_kind("ptq");
      variant->set_config(config);
      variant->set_artifact(artifact);
      variant->set_artifact_sha256(Sha256Hex(model));
    }
    grpc::Status completed = Complete(job_id, lease.lease_id(), result);
    ASSERT_TRUE(completed.ok()) << completed.error_message();
  }

  ManualClock clock_{kStartUnixMs};
};

TEST_F(SearchOptionsApiTest, TheRankingIsStoredAsResolvedHawqByDefault) {
  v1::Search by_default;
  ASSERT_TRUE(Submit(Request(), &by_default).ok());
  EXPECT_EQ(by_default.rank_by(), v1::Search::RANK_BY_HAWQ);
  EXPECT_EQ(by_default.timeout_seconds(), 0);
  EXPECT_EQ(by_default.deadline_unix_ms(), 0);

  v1::SubmitSearchRequest request = Request();
  request.set_rank_by(v1::Search::RANK_BY_PTQ);
  request.set_timeout_seconds(90);
  v1::Search by_ptq;
  ASSERT_TRUE(Submit(request, &by_ptq).ok());
  EXPECT_EQ(by_ptq.rank_by(), v1::Search::RANK_BY_PTQ);
  EXPECT_EQ(by_ptq.timeout_seconds(), 90);
  // Absolute, from the server's clock at creation.
  EXPECT_EQ(by_ptq.deadline_unix_ms(), by_ptq.created_unix_ms() + 90'000);
  EXPECT_EQ(GetSearch(by_ptq.id()).rank_by(), v1::Search::RANK_BY_PTQ);
}

TEST_F(SearchOptionsApiTest, BadRankingsAndTimeLimitsAreRefusedNamingTheField) {
  auto refusal = [&](const v1::SubmitSearchRequest& request) {
    v1::Search out;
    grpc::Status status = Submit(request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    return status.error_message();
  };
  v1::SubmitSearchRequest request = Request();
  request.set_rank_by(static_cast<v1::Search::RankBy>(7));
  EXPECT_NE(refusal(request).find("rank_by: 7 is not a ranking measure"), std::string::npos);
  request = Request();
  request.set_timeout_seconds(-1);
  EXPECT_NE(refusal(request).find("timeout_seconds: -1 is outside 0..31536000"), std::string::npos);
  request.set_timeout_seconds(31'536'001);
  EXPECT_NE(refusal(request).find("timeout_seconds: 31536001 is outside"), std::string::npos);

  v1::ListSearchesResponse listed;
  ASSERT_TRUE(experiments_->ListSearches(Context().get(), v1::ListSearchesRequest(), &listed).ok());
  EXPECT_EQ(listed.searches_size(), 0);
}

TEST_F(SearchOptionsApiTest, TheSameKeyWithAnotherRankingOrTimeLimitIsAnotherRequest) {
  v1::SubmitSearchRequest request = Request();
  request.set_idempotency_key("key-1");
  v1::Search first;
  ASSERT_TRUE(Submit(request, &first).ok());
  v1::Search again;
  ASSERT_TRUE(Submit(request, &again).ok());
  EXPECT_EQ(again.id(), first.id());

  v1::SubmitSearchRequest other = request;
  other.set_rank_by(v1::Search::RANK_BY_PTQ);
  EXPECT_EQ(Submit(other, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  other = request;
  other.set_timeout_seconds(60);
  EXPECT_EQ(Submit(other, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(SearchOptionsApiTest, ASearchPastItsTimeLimitCancelsItsJobAndFailsNamingTheStep) {
  v1::SubmitSearchRequest request = Request();
  request.set_timeout_seconds(5);
  const v1::Search search = Started(request);
  ASSERT_EQ(GetJob(search.sensitivity_job_id()).state(), v1::QUEUED);

  clock_.Advance(4'999);
  // Not yet: the search is still waiting for its job a moment later.
  EXPECT_FALSE(WaitUntil([&] { return GetSearch(search.id()).state() != v1::RUNNING; }, std::chrono::milliseconds(1500),
                         "the search staying within its limit"));
  clock_.Advance(1);
  const v1::Search ended = Finished(search.id());

  EXPECT_EQ(ended.state(), v1::FAILED);
  EXPECT_EQ(ended.error(), "search timed out after 5 s in step sensitivity");
  EXPECT_EQ(GetJob(search.sensitivity_job_id()).state(), v1::CANCELLED);
  // Finished: a cancel has nothing left to do.
  v1::CancelSearchRequest cancel;
  cancel.set_id(search.id());
  v1::Search out;
  EXPECT_EQ(experiments_->CancelSearch(Context().get(), cancel, &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(SearchOptionsApiTest, ASearchTimedOutWhileMeasuringItsProbesHasItsMeasurementsCancelled) {
  v1::SubmitSearchRequest request = Request();
  request.set_timeout_seconds(60);
  const v1::Search search = Started(request);
  ASSERT_NO_FATAL_FAILURE(CompleteSensitivityJob(search.sensitivity_job_id()));
  v1::GetResultsRequest results_request;
  results_request.set_id(search.sensitivity_job_id());
  v1::GetResultsResponse results;
  ASSERT_TRUE(WaitUntil(
      [&] {
        results.Clear();
        return experiments_->GetResults(Context().get(), results_request, &results).ok() &&
               results.measurements_size() == 4 && GetSearch(search.id()).step() == "probes";
      },
      std::chrono::seconds(30), "the search queueing its probes' measurements"))
      << results.DebugString();
  for (const v1::Measurement& m : results.measurements()) EXPECT_EQ(m.state(), "QUEUED") << m.variant();

  clock_.Advance(60'000);
  const v1::Search ended = Finished(search.id());

  EXPECT_EQ(ended.state(), v1::FAILED);
  EXPECT_EQ(ended.error(), "search timed out after 60 s in step probes");
  EXPECT_EQ(GetJob(search.sensitivity_job_id()).state(), v1::SUCCEEDED);  // finished before: left as it is
  results.Clear();
  ASSERT_TRUE(experiments_->GetResults(Context().get(), results_request, &results).ok());
  ASSERT_EQ(results.measurements_size(), 4);
  for (const v1::Measurement& m : results.measurements()) {
    SCOPED_TRACE(m.variant());
    EXPECT_NE(m.state(), "QUEUED");
    EXPECT_NE(m.state(), "RUNNING");
    EXPECT_NE(m.error().find("cancel"), std::string::npos) << m.state() << ": " << m.error();
  }
}

TEST_F(SearchOptionsApiTest, AHawqSearchWhoseSensitivityJobHasNoTracesFailsNamingTheFixBeforeMeasuring) {
  const v1::Search search = Started(Request());
  ASSERT_EQ(search.rank_by(), v1::Search::RANK_BY_HAWQ);

  ASSERT_NO_FATAL_FAILURE(CompleteSensitivityJob(search.sensitivity_job_id(), /*traces=*/false));
  const v1::Search ended = Finished(search.id());

  EXPECT_EQ(ended.state(), v1::FAILED);
  EXPECT_EQ(ended.error().rfind("FAILED_PRECONDITION: ranking by the HAWQ score needs the sensitivity job's Hessian "
                                "traces, and it has 0 of 3 layers'",
                                0),
            0u)
      << ended.error();
  EXPECT_NE(ended.error().find("--rank-by ptq"), std::string::npos) << ended.error();
  // Nothing was sent to the board.
  v1::GetResultsRequest results_request;
  results_request.set_id(search.sensitivity_job_id());
  v1::GetResultsResponse results;
  ASSERT_TRUE(experiments_->GetResults(Context().get(), results_request, &results).ok());
  EXPECT_EQ(results.measurements_size(), 0);
}

TEST_F(SearchOptionsApiTest, ADeadlineThatPassedWhileTheServerWasDownEndsTheResumedSearch) {
  v1::SubmitSearchRequest request = Request();
  request.set_timeout_seconds(30);
  const v1::Search search = Started(request);
  StopServer();
  EXPECT_EQ(search.deadline_unix_ms(), search.created_unix_ms() + 30'000);

  clock_.Advance(31'000);
  StartServer(&clock_);  // the same data directory
  const v1::Search ended = Finished(search.id());

  EXPECT_EQ(ended.state(), v1::FAILED);
  EXPECT_EQ(ended.error(), "search timed out after 30 s in step sensitivity");
  EXPECT_EQ(GetJob(search.sensitivity_job_id()).state(), v1::CANCELLED);
}

}  // namespace
}  // namespace qatlab::server::testing
