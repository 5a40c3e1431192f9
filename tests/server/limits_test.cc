// How large a job may be: the spec and the model are bounded at submission
// (INVALID_ARGUMENT naming the limit and the value, nothing stored), a job
// too large for a worker's memory fails once with a clear error, and
// ListJobs pages stay readable by a default gRPC client.
#include <cmath>
#include <fstream>
#include <limits>

#include "engine/job_spec.h"

#include "server_fixture.h"
#include "tests/support/loopback_port.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using testing::ServerFixture;
using testing::SmallSpec;
using testing::SubmitAndWaitForEnd;

class LimitsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }

  grpc::Status SubmitSpec(const v1::JobSpec& spec, const std::string& key = "", v1::Job* job = nullptr) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_idempotency_key(key);
    v1::SubmitJobResponse response;
    grpc::Status status = experiments_->SubmitJob(Context().get(), request, &response);
    if (job != nullptr) *job = response.job();
    return status;
  }

  int StoredJobs() {
    v1::ListJobsRequest request;
    request.set_page_size(1000);
    v1::ListJobsResponse response;
    EXPECT_TRUE(experiments_->ListJobs(Context().get(), request, &response).ok());
    return response.jobs_size();
  }

  static v1::JobSpec Mlp(int hidden_units) {
    v1::JobSpec spec = SmallSpec();
    spec.mutable_model()->clear_preset();
    for (const char* type : {"flatten", "dense", "relu", "dense"}) spec.mutable_model()->add_layers()->set_type(type);
    spec.mutable_model()->mutable_layers(1)->set_units(hidden_units);
    spec.mutable_model()->mutable_layers(3)->set_units(10);
    return spec;
  }
};

void ExpectRefused(const grpc::Status& status, const std::string& substring) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find(substring), std::string::npos) << status.error_message();
  EXPECT_LT(status.error_message().size(), 400u) << "the message must not echo the input";
}

TEST_F(LimitsTest, OversizedSpecsAreRefusedNamingTheLimitAndNothingIsStored) {
  const SubmissionLimits limits;

  v1::JobSpec many_layers = SmallSpec();
  many_layers.mutable_model()->clear_preset();
  for (int i = 0; i < 1000; ++i) many_layers.mutable_model()->add_layers()->set_type("relu");
  ExpectRefused(SubmitSpec(many_layers),
                "model.layers: 1000 layers, over the limit of " + std::to_string(limits.max_layers));
  // 200,000 layers are over the byte limit first.
  for (int i = 0; i < 199000; ++i) many_layers.mutable_model()->add_layers()->set_type("relu");
  ExpectRefused(SubmitSpec(many_layers),
                "bytes serialized, over the limit of " + std::to_string(limits.max_spec_bytes));

  v1::JobSpec long_name = Mlp(16);
  long_name.mutable_model()->mutable_layers(1)->set_name(std::string(5 << 20, 'n'));
  ExpectRefused(SubmitSpec(long_name), "over the limit of " + std::to_string(limits.max_spec_bytes));

  v1::JobSpec path = SmallSpec();
  path.mutable_data()->set_source("csv");
  path.mutable_data()->set_train_images(std::string(10000, 'p'));
  ExpectRefused(SubmitSpec(path), "data.train_images: 10000 bytes, over the limit of 4096");

  v1::JobSpec layer_name = Mlp(16);
  layer_name.mutable_model()->mutable_layers(1)->set_name(std::string(1000, 'n'));
  ExpectRefused(SubmitSpec(layer_name), "model.layers[1]: name or from longer than 128");

  v1::JobSpec huge_units = Mlp(1'000'000'000);
  ExpectRefused(SubmitSpec(huge_units), "model.layers[1].units: 1000000000 is over the limit of");

  EXPECT_EQ(StoredJobs(), 0);
}

TEST_F(LimitsTest, ModelsBeyondTheModelLimitsAreRefusedWithTheirFigures) {
  const SubmissionLimits limits;
  // 784 * 30000 + 30000 + 30000 * 10 + 10 parameters on MNIST's 28x28x1.
  ExpectRefused(SubmitSpec(Mlp(30000)), "model: 23850010 parameters on 28x28x1 inputs, over the limit of " +
                                            std::to_string(limits.max_parameters));

  // Few parameters, many multiply-accumulates: 3x3 convolutions of 512 filters.
  v1::JobSpec wide = SmallSpec();
  wide.mutable_model()->clear_preset();
  for (int i = 0; i < 3; ++i) {
    v1::LayerSpec* conv = wide.mutable_model()->add_layers();
    conv->set_type("conv2d");
    conv->set_filters(512);
    conv->set_kernel(3);
    conv->set_padding(1);
  }
  wide.mutable_model()->add_layers()->set_type("global_avgpool");
  wide.mutable_model()->add_layers()->set_type("flatten");
  v1::LayerSpec* dense = wide.mutable_model()->add_layers();
  dense->set_type("dense");
  dense->set_units(10);
  ExpectRefused(SubmitSpec(wide), "multiply-accumulates per inference on 28x28x1 inputs, over the limit of");

  // Activations of a training batch: the cnn preset at the largest batch on
  // a large CSV image.
  v1::JobSpec big_batch = SmallSpec();
  big_batch.mutable_data()->set_source("csv");
  big_batch.mutable_data()->set_train_images("/data/train.csv");
  big_batch.mutable_data()->set_test_images("/data/test.csv");
  big_batch.mutable_data()->set_height(256);
  big_batch.mutable_data()->set_width(256);
  big_batch.mutable_training()->set_batch_size(4096);
  ExpectRefused(SubmitSpec(big_batch), "bytes of activations for a training batch of 4096 on 256x256x1 inputs");

  EXPECT_EQ(StoredJobs(), 0);
  // Within the limits: accepted.
  EXPECT_TRUE(SubmitSpec(Mlp(1000)).ok());
}

// No field a user wrote is ignored or misread silently.
TEST_F(LimitsTest, SpecsThatWouldGiveASilentlyWrongResultAreRefused) {
  v1::JobSpec no_source = SmallSpec();
  no_source.mutable_data()->set_train_images("dataset:train");
  no_source.mutable_data()->set_test_images("dataset:test");
  ExpectRefused(SubmitSpec(no_source), "data.source: empty, but the job names data files");

  v1::JobSpec mnist_with_files = SmallSpec();
  mnist_with_files.mutable_data()->set_source("mnist");
  mnist_with_files.mutable_data()->set_train_images("/data/train.npy");
  ExpectRefused(SubmitSpec(mnist_with_files),
                "source mnist reads the built-in MNIST-10k, yet the job names data files");

  v1::JobSpec mnist_shape = SmallSpec();
  mnist_shape.mutable_data()->set_height(32);
  ExpectRefused(SubmitSpec(mnist_shape), "MNIST-10k is 28x28x1");

  const double infinity = std::numeric_limits<double>::infinity();
  v1::JobSpec inf_rate = SmallSpec();
  inf_rate.mutable_training()->set_learning_rate(infinity);
  ExpectRefused(SubmitSpec(inf_rate), "training.learning_rate: must be a finite number");
  v1::JobSpec inf_decay = SmallSpec();
  inf_decay.mutable_training()->set_weight_decay(infinity);
  ExpectRefused(SubmitSpec(inf_decay), "training.weight_decay: must be a finite number");
  v1::JobSpec nan_gamma = SmallSpec();
  nan_gamma.mutable_training()->set_schedule("step");
  nan_gamma.mutable_training()->set_step_gamma(std::nan(""));
  ExpectRefused(SubmitSpec(nan_gamma), "training.step_gamma: must be a finite number");

  v1::JobSpec four_bit_activations = SmallSpec();
  four_bit_activations.add_configs()->set_activation_bits(4);
  ExpectRefused(SubmitSpec(four_bit_activations),
                "configs[0].activation_bits: 4: the integer export and its kernels use 8-bit activations");

  EXPECT_EQ(StoredJobs(), 0);

  // Files named by their format need no source: it is set from them.
  v1::JobSpec csv_files = SmallSpec();
  csv_files.mutable_data()->set_train_images("/data/train.csv");
  csv_files.mutable_data()->set_test_images("/data/test.csv");
  v1::Job job;
  ASSERT_TRUE(SubmitSpec(csv_files, "", &job).ok());
  EXPECT_EQ(job.spec().data().source(), "csv");
}

TEST(JobJsonTest, AnExplicitZeroEpochsIsRefusedRatherThanReadAsTheDefault) {
  StatusOr<v1::JobSpec> zero = ParseJobSpecJson(R"({"model": {"preset": "mlp"}, "training": {"epochs": 0}})");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("training.epochs: 0 would mean the default (10 epochs)"), std::string::npos)
      << zero.status().message();
  StatusOr<v1::JobSpec> qat_zero = ParseJobSpecJson(R"({"model": {"preset": "mlp"}, "qat": {"epochs": 0}})");
  ASSERT_FALSE(qat_zero.ok());
  EXPECT_NE(qat_zero.status().message().find("set skip_qat"), std::string::npos) << qat_zero.status().message();
  // An ONNX model's 0 epochs means no fine-tuning: accepted.
  EXPECT_TRUE(ParseJobSpecJson(R"({"model": {"onnx": "m.onnx"}, "training": {"epochs": 0}})").ok());
  EXPECT_TRUE(ParseJobSpecJson(R"({"model": {"preset": "mlp"}, "training": {"epochs": 2}})").ok());
}

TEST_F(LimitsTest, AnIdempotencyKeyReusedWithAnotherSpecIsRefused) {
  v1::Job first;
  ASSERT_TRUE(SubmitSpec(SmallSpec("a"), "key-1", &first).ok());
  v1::Job again;
  ASSERT_TRUE(SubmitSpec(SmallSpec("a"), "key-1", &again).ok());
  EXPECT_EQ(again.id(), first.id());
  grpc::Status other = SubmitSpec(SmallSpec("b"), "key-1");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::ALREADY_EXISTS) << other.error_message();
  EXPECT_NE(other.error_message().find("idempotency_key 'key-1' was used for job " + first.id()), std::string::npos)
      << other.error_message();
  EXPECT_EQ(StoredJobs(), 1);
}

TEST_F(LimitsTest, ListJobsLeavesOutLayerNamesUnlessAskedAndKeepsPagesSmall) {
  // Specs near the spec limit: 40 of them would be 10 MB in one page.
  v1::JobSpec spec = Mlp(16);
  for (int i = 0; i < 3; ++i) {
    v1::LayerSpec* layer = spec.mutable_model()->mutable_layers(i);
    layer->set_name(std::string(100, 'a' + i));
  }
  spec.mutable_data()->set_source("csv");
  spec.mutable_data()->set_height(28);
  spec.mutable_data()->set_width(28);
  spec.mutable_data()->set_train_images(std::string(4000, 't'));
  spec.mutable_data()->set_test_images(std::string(4000, 'u'));
  for (int i = 0; i < 60; ++i) (*spec.mutable_labels())["label" + std::to_string(i)] = std::string(250, 'v');
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(SubmitSpec(spec).ok());

  v1::ListJobsRequest request;
  request.set_page_size(1000);
  v1::ListJobsResponse basic;
  ASSERT_TRUE(experiments_->ListJobs(Context().get(), request, &basic).ok());
  ASSERT_GT(basic.jobs_size(), 0);
  EXPECT_TRUE(basic.jobs(0).spec().model().layers(0).name().empty());
  EXPECT_EQ(basic.jobs(0).spec().model().layers_size(), 4);

  request.set_view(v1::JOB_VIEW_FULL);
  int listed = 0;
  for (int page = 0; page < 40; ++page) {
    v1::ListJobsResponse full;
    ASSERT_TRUE(experiments_->ListJobs(Context().get(), request, &full).ok());
    EXPECT_LE(full.ByteSizeLong(), 2u << 20);
    ASSERT_GT(full.jobs_size(), 0);
    EXPECT_EQ(full.jobs(0).spec().model().layers(0).name(), std::string(100, 'a'));
    listed += full.jobs_size();
    if (full.next_page_token().empty()) break;
    request.set_page_token(full.next_page_token());
  }
  EXPECT_EQ(listed, 40);
}

// The real server and its local worker under an address-space limit: a
// model the server's (raised) limits accept but the worker cannot allocate
// fails at the first attempt, saying why, and the worker lives on.
TEST(WorkerMemoryTest, AModelTooLargeForTheWorkerFailsOnceWithAClearError) {
#if defined(__SANITIZE_ADDRESS__) || defined(QATLAB_TSAN)
  // AddressSanitizer and ThreadSanitizer reserve terabytes of address space
  // for their shadow memory, so a server built with either cannot start under
  // `ulimit -v` at all; the release suite runs this test.
  GTEST_SKIP() << "needs an address-space limit, which a sanitizer's shadow memory cannot live under";
#endif
  test_support::TempDir dir;
  {
    std::ofstream csv(dir.File("digits.csv"));
    for (int row = 0; row < 8; ++row) {
      csv << row % 2;
      for (int i = 0; i < 28 * 28; ++i) csv << "," << (i * 7 + row) % 256;
      csv << "\n";
    }
  }
  const int port = test_support::FreeLoopbackPort();
  const std::string command = std::string("ulimit -v 3000000 && exec '") + QATLAB_SERVER_BINARY +
                              "' --listen 127.0.0.1:" + std::to_string(port) + " --data-dir '" + dir.File("data") +
                              "' --local-workers 1 --log-level warn --max-model-parameters 100000000000";
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server =
      test_support::LoggedChild::Start({"/bin/sh", "-c", command}, dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto experiments = v1::ExperimentService::NewStub(channel);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << (*server)->Log();

  // 784 x 2^22 weights: 13 GB of float32, beyond the 3 GB address space.
  v1::JobSpec spec = SmallSpec();
  spec.mutable_model()->clear_preset();
  for (const char* type : {"flatten", "dense", "relu", "dense"}) spec.mutable_model()->add_layers()->set_type(type);
  spec.mutable_model()->mutable_layers(1)->set_units(1 << 20);
  spec.mutable_model()->mutable_layers(3)->set_units(2);
  spec.mutable_data()->set_source("csv");
  spec.mutable_data()->set_train_images(dir.File("digits.csv"));
  spec.mutable_data()->set_test_images(dir.File("digits.csv"));
  spec.mutable_data()->set_height(28);
  spec.mutable_data()->set_width(28);
  spec.mutable_training()->set_batch_size(4);
  spec.set_skip_qat(true);
  const std::optional<v1::Job> ended =
      SubmitAndWaitForEnd(*experiments, spec, milliseconds(60000), [&] { return (*server)->Log(); });
  ASSERT_TRUE(ended.has_value());
  const v1::Job& job = *ended;
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_EQ(job.attempt(), 1);
  EXPECT_NE(job.error().find("out of memory"), std::string::npos) << job.error();
  (*server)->Stop(milliseconds(10000));
}

}  // namespace
}  // namespace qatlab::server
