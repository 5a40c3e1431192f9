// A job whose QAT training diverges (a learning rate of 1e30 for QAT only),
// run by a real qatlab-worker under a real qatlab-server: the job SUCCEEDS,
// the QAT variants carry their reason, the float and PTQ variants keep their
// figures and their models are stored, and qatctl shows the divergence.
#include <gtest/gtest.h>

#include <string>

#include "data/mnist.h"
#include "tests/client/running_service.h"

namespace qatlab::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kDivergingQatJob = R"({
  "experiment": "e2e-diverged",
  "labels": {"suite": "client-e2e"},
  "model": {"preset": "mlp"},
  "data": {"source": "mnist", "trainLimit": 1000, "testLimit": 500},
  "training": {"epochs": 1},
  "qat": {"epochs": 1, "learningRate": 1e30},
  "configs": [{"weightBits": 8, "activationBits": 8}]
}
)";

TEST(DivergenceEndToEnd, ADivergedQatVariantIsMarkedAndTheJobSucceedsWithItsSiblings) {
  ASSERT_TRUE(EnsureMnist10k(DefaultDataCacheDir()).ok());
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  CapturedRun submitted = service.Qatctl({"submit", service.WriteFile("job.json", kDivergingQatJob)});
  ASSERT_EQ(submitted.exit_status, 0) << submitted.err;
  std::string job_id = submitted.out;
  while (!job_id.empty() && job_id.back() == '\n') job_id.pop_back();

  std::optional<v1::Job> job = service.WaitForJob(job_id, IsFinal, 120s, "the diverging job to end");
  ASSERT_TRUE(job.has_value()) << service.Logs();
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << service.Logs();
  EXPECT_EQ(job->attempt(), 1);

  std::optional<v1::GetResultsResponse> results = service.GetResults(job_id);
  ASSERT_TRUE(results.has_value());
  int checked = 0;
  for (const v1::VariantResult& variant : results->result().variants()) {
    if (variant.name() == "qat_w8a8") {
      EXPECT_TRUE(variant.error().starts_with("diverged at epoch 1, batch ")) << variant.error();
      EXPECT_NE(variant.error().find("try a lower learning rate"), std::string::npos) << variant.error();
      EXPECT_TRUE(variant.artifact_sha256().empty());
    } else {
      EXPECT_TRUE(variant.error().empty()) << variant.name() << ": " << variant.error();
      EXPECT_GT(variant.accuracy(), 50.0) << variant.name();
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3);  // float, ptq_w8a8, qat_w8a8

  // The sibling's model was uploaded and downloads; the diverged one has none.
  CapturedRun ptq =
      service.Qatctl({"artifacts", "get", job_id, "ptq_w8a8.qmodel", "-o", service.work_dir() + "/ptq.qmodel"});
  EXPECT_EQ(ptq.exit_status, 0) << ptq.err;
  CapturedRun qat =
      service.Qatctl({"artifacts", "get", job_id, "qat_w8a8.qmodel", "-o", service.work_dir() + "/qat.qmodel"});
  EXPECT_NE(qat.exit_status, 0) << qat.out;

  // qatctl show and compare say which variant diverged, and why.
  for (const char* command : {"show", "compare"}) {
    CapturedRun shown = service.Qatctl({command, job_id});
    EXPECT_EQ(shown.exit_status, 0) << shown.err;
    EXPECT_NE(shown.out.find("diverged"), std::string::npos) << command << ":\n" << shown.out;
    EXPECT_NE(shown.out.find("qat_w8a8: diverged at epoch 1, batch "), std::string::npos) << command << ":\n"
                                                                                          << shown.out;
  }
}

}  // namespace
}  // namespace qatlab::testing
