// Searches through the API (an in-process server, real gRPC, no workers):
// each kind of bad request gets one clear error naming the field and stores
// nothing; a good search is run by the server, which submits its
// sensitivity job under a key derived from the search id, so a cancel
// reaches the job and a restart finds the same job instead of a new one.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <regex>
#include <string>
#include <vector>

#include "engine/job_spec.h"
#include "search/reachable_budgets.h"
#include "server_fixture.h"
#include "tests/server/test_support.h"
#include "tests/server/tiny_onnx_model.h"
#include "tests/support/wait_until.h"

namespace qatlab::server::testing {
namespace {

using test_support::WaitUntil;

class SearchApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    ChooseOptions();
    StartServer();
  }
  // Changes options_ before the server starts.
  virtual void ChooseOptions() {}

  static v1::SubmitSearchRequest GoodRequest() { return SmallSearchRequest("search api", 3); }

  // GoodRequest's search of the uploaded ONNX model "tiny" (UploadTinyModel).
  static v1::SubmitSearchRequest TinyOnnxRequest() {
    v1::SubmitSearchRequest request = GoodRequest();
    request.mutable_spec()->mutable_model()->clear_preset();
    request.mutable_spec()->mutable_model()->set_onnx("model:tiny");
    return request;
  }

  int JobCount() {
    v1::ListJobsRequest request;
    request.set_page_size(1000);
    v1::ListJobsResponse response;
    EXPECT_TRUE(experiments_->ListJobs(Context().get(), request, &response).ok());
    return response.jobs_size();
  }

  int SearchCount() {
    v1::ListSearchesResponse response;
    EXPECT_TRUE(experiments_->ListSearches(Context().get(), v1::ListSearchesRequest(), &response).ok());
    return response.searches_size();
  }

  // Uploads TinyOnnxLinearModel() (28x28x1, one Gemm to 10 outputs) as
  // model "tiny".
  void UploadTinyModel() {
    const std::string bytes = qatlab::testing::TinyOnnxLinearModel();
    v1::Model model;
    auto context = Context();
    auto stream = experiments_->UploadModel(context.get(), &model);
    v1::UploadModelRequest header;
    header.mutable_header()->set_name("tiny");
    header.mutable_header()->set_sha256(Sha256Hex(bytes));
    header.mutable_header()->set_size(static_cast<int64_t>(bytes.size()));
    ASSERT_TRUE(UploadInChunks(*stream, header, bytes, 1000).ok());
  }

  // Submits `request`, which must be refused with `code`, storing nothing;
  // returns the refusal's message.
  std::string Refusal(const v1::SubmitSearchRequest& request, grpc::StatusCode code) {
    v1::Search out;
    grpc::Status status = experiments_->SubmitSearch(Context().get(), request, &out);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_EQ(SearchCount(), 0) << "a refused search was stored";
    EXPECT_EQ(JobCount(), 0) << "a refused search submitted jobs";
    return status.error_message();
  }

  void ExpectRefused(const v1::SubmitSearchRequest& request, grpc::StatusCode code, const std::string& words) {
    const std::string message = Refusal(request, code);
    EXPECT_NE(message.find(words), std::string::npos) << message;
  }

  // Submits `request`, which must be accepted: the stored search.
  v1::Search Accepted(const v1::SubmitSearchRequest& request) {
    v1::Search search;
    grpc::Status status = experiments_->SubmitSearch(Context().get(), request, &search);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(search.id().rfind("se-", 0), 0u) << search.id();
    return search;
  }

  // The smallest footprint of GoodRequest()'s model on MNIST's 28x28x1,
  // computed here as SubmitSearch should (tests/search/
  // reachable_budgets_test.cc ties it to the exporter's reported sizes).
  static search::SmallestFootprint GoodRequestsSmallestFootprint() {
    StatusOr<std::vector<LayerConfig>> layers = TranslateModel(GoodRequest().spec().model());
    EXPECT_TRUE(layers.ok());
    StatusOr<search::SmallestFootprint> smallest = search::ComputeSmallestFootprint(*layers, ImageShape{28, 28, 1});
    EXPECT_TRUE(smallest.ok()) << smallest.status().ToString();
    return smallest.ok() ? *smallest : search::SmallestFootprint();
  }

  // Submits GoodRequest() (with `key`) and waits for the server to have
  // submitted its sensitivity job.
  v1::Search StartedSearch(const std::string& key = "") {
    v1::SubmitSearchRequest request = GoodRequest();
    request.set_idempotency_key(key);
    v1::Search submitted;
    grpc::Status status = experiments_->SubmitSearch(Context().get(), request, &submitted);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(submitted.id().rfind("se-", 0), 0u) << submitted.id();
    EXPECT_EQ(submitted.weighted_layers(), 3);  // the cnn preset: conv, conv, dense
    v1::Search search;
    EXPECT_TRUE(WaitUntil(
        [&] {
          search = GetSearch(submitted.id());
          // The job id is stored as the job is created, the step with the
          // progress line that follows it: wait for both.
          return search.job_ids_size() == 1 && !search.sensitivity_job_id().empty() && !search.step().empty();
        },
        std::chrono::seconds(30), "the search submitting its sensitivity job"));
    return search;
  }
};

TEST_F(SearchApiTest, BadRequestsAreRefusedNamingTheFieldAndStoreNothing) {
  RegisterBoard("board-1", "mps2-an386");
  v1::SubmitSearchRequest request = GoodRequest();
  request.clear_spec();
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "spec: missing");

  request = GoodRequest();
  request.set_candidates(61);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "candidates: 61 is outside 1..60");
  request.set_candidates(-1);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "candidates: -1 is outside 1..60");

  request = GoodRequest();
  request.mutable_budgets()->set_max_flash_bytes(0);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "budgets.max_flash_bytes: 0 is not a positive");
  request = GoodRequest();
  request.mutable_budgets()->set_max_ram_bytes(-5);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "budgets.max_ram_bytes: -5 is not a positive");
  request = GoodRequest();
  request.mutable_budgets()->set_max_latency_ms(-1.5);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "budgets.max_latency_ms: -1.5 is not a positive");

  request = GoodRequest();
  request.mutable_spec()->mutable_model()->set_preset("no-such-preset");
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "spec.model");
  request = GoodRequest();
  request.mutable_spec()->mutable_model()->set_onnx("/nonexistent/model.onnx");
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "spec.model.onnx");
  request.mutable_spec()->mutable_model()->set_onnx("model:never-uploaded");
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                "spec.model.onnx: model never-uploaded has not been uploaded");
  // The sensitivity job is checked as SubmitJob checks a job.
  request = GoodRequest();
  request.mutable_spec()->mutable_training()->set_epochs(-1);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT, "spec");

  // A kind no agent registered: refused as Measure refuses it.
  request = GoodRequest();
  request.set_board_kind("no-such-board");
  ExpectRefused(request, grpc::StatusCode::FAILED_PRECONDITION,
                "board_kind: no agent has registered a no-such-board board");
}

// The figure a refusal names in "(N bytes".
int64_t BytesNamedIn(const std::string& message) {
  std::smatch match;
  if (!std::regex_search(message, match, std::regex(R"(\((\d+) bytes)"))) return -1;
  return std::stoll(match[1].str());
}

TEST_F(SearchApiTest, AFlashBudgetBelowTheTwoBitModelIsRefusedAtSubmissionNamingTheSmallestFlash) {
  RegisterBoard("board-1", "mps2-an386");
  v1::SubmitSearchRequest request = GoodRequest();
  request.mutable_budgets()->set_max_flash_bytes(1000);

  const std::string message = Refusal(request, grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(message.rfind("budgets.max_flash_bytes: 1000 is below the smallest flash this model can reach (", 0), 0u)
      << message;
  EXPECT_NE(message.find("bytes, every weighted layer at 2 bits)"), std::string::npos) << message;
  const int64_t smallest = BytesNamedIn(message);
  EXPECT_EQ(smallest, GoodRequestsSmallestFootprint().flash_bytes) << message;
  // One byte less is refused; the minimum itself is a budget the all-2-bit
  // model meets, so that search is created.
  request.mutable_budgets()->set_max_flash_bytes(smallest - 1);
  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                fmt::format("budgets.max_flash_bytes: {} is below the smallest flash this model can reach ({} bytes",
                            smallest - 1, smallest));
  request.mutable_budgets()->set_max_flash_bytes(smallest);
  const v1::Search search = Accepted(request);
  EXPECT_EQ(search.budgets().max_flash_bytes(), smallest);
  EXPECT_EQ(SearchCount(), 1);
}

TEST_F(SearchApiTest, ARamBudgetBelowTheActivationArenaIsRefusedAtSubmission) {
  RegisterBoard("board-1", "mps2-an386");
  const search::SmallestFootprint smallest = GoodRequestsSmallestFootprint();
  ASSERT_GT(smallest.ram_bytes, 1);
  v1::SubmitSearchRequest request = GoodRequest();
  request.mutable_budgets()->set_max_flash_bytes(smallest.flash_bytes);
  request.mutable_budgets()->set_max_ram_bytes(smallest.ram_bytes - 1);

  ExpectRefused(request, grpc::StatusCode::INVALID_ARGUMENT,
                fmt::format("budgets.max_ram_bytes: {} is below the RAM this model needs ({} bytes: its activation "
                            "arena, the same at every bit width)",
                            smallest.ram_bytes - 1, smallest.ram_bytes));
  request.mutable_budgets()->set_max_ram_bytes(smallest.ram_bytes);
  EXPECT_EQ(Accepted(request).budgets().max_ram_bytes(), smallest.ram_bytes);
}

TEST_F(SearchApiTest, AnUploadedOnnxModelsBudgetsAreCheckedOnItsOwnInputShape) {
  RegisterBoard("board-1", "mps2-an386");
  ASSERT_NO_FATAL_FAILURE(UploadTinyModel());
  v1::SubmitSearchRequest request = TinyOnnxRequest();
  request.mutable_budgets()->set_max_flash_bytes(100);

  // One Gemm of 784 x 10 weights: at 2 bits alone more than 100 bytes.
  const std::string message = Refusal(request, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(message.rfind("budgets.max_flash_bytes: 100 is below the smallest flash this model can reach (", 0), 0u)
      << message;
  EXPECT_GT(BytesNamedIn(message), 784 * 10 * 2 / 8) << message;
}

TEST_F(SearchApiTest, BudgetsOfADataSetWhoseShapeOnlyTheWorkerKnowsAreCheckedAfterTheProbes) {
  RegisterBoard("board-1", "mps2-an386");
  v1::SubmitSearchRequest request = GoodRequest();
  v1::DataSpec* data = request.mutable_spec()->mutable_data();
  data->set_source("npy");
  data->set_train_images("/data/on/the/worker/train_images.npy");
  data->set_train_labels("/data/on/the/worker/train_labels.npy");
  data->set_test_images("/data/on/the/worker/test_images.npy");
  data->set_test_labels("/data/on/the/worker/test_labels.npy");
  request.mutable_budgets()->set_max_flash_bytes(1);
  request.mutable_budgets()->set_max_ram_bytes(1);

  // The shape is in the files: nothing to compute the minimum from here.
  EXPECT_EQ(Accepted(request).budgets().max_flash_bytes(), 1);
}

TEST_F(SearchApiTest, UnknownIdsAreNotFound) {
  v1::GetSearchRequest get;
  get.set_id("se-nosuchsearch");
  v1::Search out;
  EXPECT_EQ(experiments_->GetSearch(Context().get(), get, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::CancelSearchRequest cancel;
  cancel.set_id("se-nosuchsearch");
  EXPECT_EQ(experiments_->CancelSearch(Context().get(), cancel, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  get.clear_id();
  EXPECT_EQ(experiments_->GetSearch(Context().get(), get, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SearchApiTest, TheServerCountsTheLayersOfAnUploadedOnnxModel) {
  RegisterBoard("board-1", "mps2-an386");
  ASSERT_NO_FATAL_FAILURE(UploadTinyModel());

  v1::SubmitSearchRequest request = TinyOnnxRequest();
  v1::Search search;
  grpc::Status status = experiments_->SubmitSearch(Context().get(), request, &search);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(search.weighted_layers(), 1);  // one Gemm
  EXPECT_EQ(search.candidates(), 3);
}

TEST_F(SearchApiTest, CancelSearchCancelsItsJobsAndStaysCancelled) {
  RegisterBoard("board-1", "mps2-an386");
  const v1::Search search = StartedSearch();
  ASSERT_EQ(search.job_ids_size(), 1);
  EXPECT_EQ(search.state(), v1::RUNNING);
  EXPECT_EQ(search.step(), "sensitivity");

  v1::CancelSearchRequest cancel;
  cancel.set_id(search.id());
  v1::Search cancelled;
  grpc::Status status = experiments_->CancelSearch(Context().get(), cancel, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.state(), v1::CANCELLED);
  v1::GetJobRequest get_job;
  get_job.set_id(search.sensitivity_job_id());
  v1::Job job;
  ASSERT_TRUE(experiments_->GetJob(Context().get(), get_job, &job).ok());
  EXPECT_EQ(job.state(), v1::CANCELLED);
  // The server's thread stops; the search is not rewritten as FAILED.
  EXPECT_TRUE(WaitUntil([&] { return server_->searches().Get(search.id())->state() == v1::CANCELLED; },
                        std::chrono::seconds(5), "the search staying cancelled"));
  EXPECT_EQ(GetSearch(search.id()).state(), v1::CANCELLED);
  // A second cancel: it has finished.
  EXPECT_EQ(experiments_->CancelSearch(Context().get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(SearchApiTest, TheSameKeyGivesTheSameSearchAndAnotherRequestWithItIsRefused) {
  RegisterBoard("board-1", "mps2-an386");
  const v1::Search first = StartedSearch("key-1");
  v1::SubmitSearchRequest request = GoodRequest();
  request.set_idempotency_key("key-1");
  v1::Search again;
  ASSERT_TRUE(experiments_->SubmitSearch(Context().get(), request, &again).ok());
  EXPECT_EQ(again.id(), first.id());
  request.set_candidates(4);
  EXPECT_EQ(experiments_->SubmitSearch(Context().get(), request, &again).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(SearchCount(), 1);
  EXPECT_EQ(JobCount(), 1);
}

TEST_F(SearchApiTest, ListSearchesPagesNewestFirstWithoutResults) {
  RegisterBoard("board-1", "mps2-an386");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::Search search;
    ASSERT_TRUE(experiments_->SubmitSearch(Context().get(), GoodRequest(), &search).ok());
    ids.push_back(search.id());
  }
  v1::ListSearchesRequest request;
  request.set_page_size(2);
  v1::ListSearchesResponse first;
  ASSERT_TRUE(experiments_->ListSearches(Context().get(), request, &first).ok());
  ASSERT_EQ(first.searches_size(), 2);
  EXPECT_EQ(first.searches(0).id(), ids[2]);
  EXPECT_EQ(first.searches(1).id(), ids[1]);
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  v1::ListSearchesResponse second;
  ASSERT_TRUE(experiments_->ListSearches(Context().get(), request, &second).ok());
  ASSERT_EQ(second.searches_size(), 1);
  EXPECT_EQ(second.searches(0).id(), ids[0]);
  EXPECT_TRUE(second.next_page_token().empty());

  request.set_page_token("not-a-token");
  EXPECT_EQ(experiments_->ListSearches(Context().get(), request, &second).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_page_token();
  request.set_page_size(-1);
  EXPECT_EQ(experiments_->ListSearches(Context().get(), request, &second).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SearchApiTest, ARestartedServerResumesTheSearchWithTheSameJob) {
  RegisterBoard("board-1", "mps2-an386");
  const v1::Search before = StartedSearch();
  RestartServer();

  // The resumed orchestrator submits its sensitivity job again under the same
  // key: the job the first run created comes back, no second one is made.
  ASSERT_TRUE(WaitUntil([&] { return GetSearch(before.id()).log_size() > before.log_size(); }, std::chrono::seconds(30),
                        "the resumed search reaching its sensitivity step again"));
  const v1::Search after = GetSearch(before.id());
  EXPECT_EQ(after.state(), v1::RUNNING);
  EXPECT_EQ(after.sensitivity_job_id(), before.sensitivity_job_id());
  ASSERT_EQ(after.job_ids_size(), 1);
  EXPECT_EQ(after.job_ids(0), before.job_ids(0));
  EXPECT_EQ(JobCount(), 1);
}

// With tokens, the server's searches present a token of their own over the
// in-process channel: a client's search gets its jobs submitted.
class TokenSearchApiTest : public SearchApiTest {
 protected:
  void ChooseOptions() override {
    options_.tokens = {{Role::kClient, "client-token-1"}, {Role::kWorker, "worker-token-1"}};
  }
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = Context();
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }
};

TEST_F(TokenSearchApiTest, AClientsSearchSubmitsItsJobsWithTheServersOwnToken) {
  v1::RegisterDeviceRequest board;
  board.mutable_device()->set_name("board-1");
  board.mutable_device()->set_board_kind("mps2-an386");
  board.mutable_device()->set_core("cortex-m4");
  board.mutable_device()->set_clock_hz(25'000'000);
  v1::RegisterDeviceResponse registered;
  ASSERT_TRUE(workers_->RegisterDevice(As("worker-token-1").get(), board, &registered).ok());

  v1::Search submitted;
  EXPECT_EQ(experiments_->SubmitSearch(Context().get(), GoodRequest(), &submitted).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status status = experiments_->SubmitSearch(As("client-token-1").get(), GoodRequest(), &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(WaitUntil([&] { return server_->searches().Get(submitted.id())->job_ids_size() == 1; },
                        std::chrono::seconds(30), "the search submitting its sensitivity job"));
  const v1::Search search = *server_->searches().Get(submitted.id());
  EXPECT_EQ(search.state(), v1::RUNNING) << search.error();
}

}  // namespace
}  // namespace qatlab::server::testing
