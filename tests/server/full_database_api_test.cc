// A client submitting to a server whose database is full hears
// RESOURCE_EXHAUSTED (not INTERNAL), and what was accepted before stays.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server_fixture.h"

namespace qatlab::server::testing {
namespace {

class FullDatabaseApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    options_.max_database_bytes = 512 * 1024;
  }
};

TEST_F(FullDatabaseApiTest, SubmitToAFullDatabaseIsResourceExhaustedAndEarlierJobsStay) {
  StartServer();
  v1::JobSpec spec = SmallSpec("fill");
  for (int label = 0; label < 8; ++label)
    (*spec.mutable_labels())["label" + std::to_string(label)] = std::string(200, 'x');

  std::vector<std::string> accepted;
  grpc::Status refusal;
  for (int i = 0; i < 5000 && refusal.ok(); ++i) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    refusal = experiments_->SubmitJob(Context().get(), request, &response);
    if (refusal.ok()) accepted.push_back(response.job().id());
  }

  ASSERT_FALSE(refusal.ok()) << "512 KiB never filled after " << accepted.size() << " jobs";
  ASSERT_GT(accepted.size(), 10u);
  EXPECT_EQ(refusal.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refusal.error_message();
  for (const std::string& id : accepted) {
    v1::GetJobRequest request;
    request.set_id(id);
    v1::Job job;
    grpc::Status status = experiments_->GetJob(Context().get(), request, &job);
    ASSERT_TRUE(status.ok()) << id << ": " << status.error_message();
    EXPECT_EQ(job.state(), v1::QUEUED);
  }
}

}  // namespace
}  // namespace qatlab::server::testing
