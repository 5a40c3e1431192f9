// Sweeps and job dependencies through the API (an in-process server, real
// gRPC): each kind of bad sweep or dependency gets one clear error and
// stores nothing; a good sweep creates one baseline per seed and one job per
// grid point, listed and cancelled by its id.
#include <gtest/gtest.h>

#include "engine/sweep_spec.h"
#include "server_fixture.h"

namespace qatlab::server::testing {
namespace {

class SweepApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }

  grpc::Status SubmitSweep(const std::string& json, v1::SweepStatus* out) {
    auto spec = ParseSweepSpecJson(json);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    v1::SubmitSweepRequest request;
    *request.mutable_spec() = *spec;
    return experiments_->SubmitSweep(Context().get(), request, out);
  }

  int JobCount() {
    v1::ListJobsRequest request;
    request.set_page_size(1000);
    v1::ListJobsResponse response;
    EXPECT_TRUE(experiments_->ListJobs(Context().get(), request, &response).ok());
    return response.jobs_size();
  }

  void ExpectRefused(const std::string& json, grpc::StatusCode code, const std::string& words) {
    v1::SweepStatus out;
    grpc::Status status = SubmitSweep(json, &out);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(words), std::string::npos) << status.error_message();
    EXPECT_EQ(JobCount(), 0) << "a refused sweep stored jobs";
  }
};

constexpr char kBase[] = R"("base": {"experiment": "sw", "model": {"preset": "cnn"}, "training": {"epochs": 1}})";

TEST_F(SweepApiTest, GoodSweepCreatesABaselinePerSeedAndAJobPerPoint) {
  v1::SweepStatus out;
  grpc::Status status =
      SubmitSweep(std::string("{") + kBase + R"(, "grid": {"weight_bits": [8, 4, 2], "seed": [1, 2]}})", &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.sweep().baseline_job_ids_size(), 2);
  EXPECT_EQ(out.sweep().job_ids_size(), 6);
  EXPECT_EQ(out.jobs_size(), 8);
  for (const v1::Job& job : out.jobs()) EXPECT_EQ(job.sweep_id(), out.sweep().id());

  v1::ListJobsRequest list;
  list.set_sweep_id(out.sweep().id());
  v1::ListJobsResponse listed;
  ASSERT_TRUE(experiments_->ListJobs(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 8);

  v1::CancelSweepRequest cancel;
  cancel.set_id(out.sweep().id());
  v1::SweepStatus cancelled;
  ASSERT_TRUE(experiments_->CancelSweep(Context().get(), cancel, &cancelled).ok());
  for (const v1::Job& job : cancelled.jobs()) EXPECT_EQ(job.state(), v1::CANCELLED) << job.id();
  v1::GetSweepRequest get;
  get.set_id(out.sweep().id());
  v1::SweepStatus fetched;
  ASSERT_TRUE(experiments_->GetSweep(Context().get(), get, &fetched).ok());
  EXPECT_EQ(fetched.jobs_size(), 8);
}

TEST_F(SweepApiTest, EmptyGridIsRefused) {
  ExpectRefused(std::string("{") + kBase + R"(, "grid": {}})", grpc::StatusCode::INVALID_ARGUMENT, "grid is empty");
}

TEST_F(SweepApiTest, GridOverTenThousandPointsIsRefused) {
  ExpectRefused(std::string("{") + kBase +
                    R"(, "grid": {"weight_bits": [2, 3, 4, 5, 6, 7, 8], "qat_epochs": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                       "seed": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                       "qat_learning_rate": [1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3]}})",
                grpc::StatusCode::INVALID_ARGUMENT, "10500 points");
}

TEST_F(SweepApiTest, DependencyOnAMissingJobIsNotFound) {
  ExpectRefused(
      R"({"base": {"model": {"preset": "cnn"}, "baseline_job": "j-nosuchjob000"}, "grid": {"weight_bits": [8, 4]}})",
      grpc::StatusCode::NOT_FOUND, "j-nosuchjob000");
}

TEST_F(SweepApiTest, SubmitJobChecksItsBaseline) {
  v1::Job baseline = Submit(SmallSpec("baseline"));
  v1::JobSpec other = SmallSpec("dependent");
  other.set_baseline_job(baseline.id());
  other.mutable_training()->set_batch_size(16);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = other;
  v1::SubmitJobResponse response;
  grpc::Status status = experiments_->SubmitJob(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("training.batch_size differs"), std::string::npos) << status.error_message();

  other.set_baseline_job("j-nosuchjob000");
  *request.mutable_spec() = other;
  status = experiments_->SubmitJob(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  v1::JobSpec same = SmallSpec("dependent");
  same.set_baseline_job(baseline.id());
  v1::Job dependent = Submit(same);
  EXPECT_EQ(dependent.state(), v1::QUEUED);
  EXPECT_EQ(JobCount(), 2);
}

}  // namespace
}  // namespace qatlab::server::testing
