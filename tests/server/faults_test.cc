// Faults that must tell the truth: a result naming a model never uploaded is
// refused, a blob damaged on disk is DATA_LOSS rather than wrong bytes with
// status OK, and a server that cannot store a worker's model fails the job
// with that error at once (not "lease expired" a lease period later); a
// server that cannot write its database says so in its health.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/mnist.h"
#include "server_fixture.h"
#include "tests/support/loopback_port.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using test_support::WaitUntil;
using testing::ServerFixture;
using testing::SmallSpec;
using testing::SubmitAndWaitForEnd;

class FaultsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }

  grpc::Status Download(const std::string& sha256, std::string* bytes) {
    v1::DownloadArtifactRequest request;
    request.set_sha256(sha256);
    auto context = Context();
    auto reader = experiments_->DownloadArtifact(context.get(), request);
    v1::ArtifactChunk chunk;
    while (reader->Read(&chunk)) bytes->append(chunk.data());
    return reader->Finish();
  }

  std::string BlobPath(const std::string& sha256) {
    return dir_.path() + "/blobs/" + sha256.substr(0, 2) + "/" + sha256;
  }
};

TEST_F(FaultsTest, ACompletionNamingAModelNeverUploadedIsRefused) {
  const v1::Job job = Submit(SmallSpec());
  const v1::LeaseJobResponse lease = Lease();
  ASSERT_EQ(lease.job().id(), job.id());
  const std::string model = "a model's bytes";
  v1::JobResult result = ResultFor(job.id());
  v1::VariantResult* variant = result.add_variants();
  variant->set_name("ptq_w8a8");
  variant->set_artifact("ptq_w8a8.qmodel");
  variant->set_artifact_sha256(Sha256Hex(model));

  grpc::Status refused = Complete(job.id(), lease.lease_id(), result);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("'ptq_w8a8.qmodel' (sha256 '" + Sha256Hex(model) +
                                         "') was never uploaded for job " + job.id()),
            std::string::npos)
      << refused.error_message();

  // The job is still the worker's: once the model is there, it completes.
  ASSERT_TRUE(UploadModel(job.id(), lease.lease_id(), "ptq_w8a8.qmodel", model, 4).ok());
  variant->set_artifact_sha256(Sha256Hex("other bytes"));
  EXPECT_EQ(Complete(job.id(), lease.lease_id(), result).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  variant->set_artifact_sha256(Sha256Hex(model));
  grpc::Status completed = Complete(job.id(), lease.lease_id(), result);
  EXPECT_TRUE(completed.ok()) << completed.error_message();
}

TEST_F(FaultsTest, ABlobDamagedOnDiskIsDataLossAndAnUppercaseDigestFindsIt) {
  const v1::Job job = Submit(SmallSpec());
  const v1::LeaseJobResponse lease = Lease();
  const std::string model(200000, 'm');
  const std::string sha256 = Sha256Hex(model);
  ASSERT_TRUE(UploadModel(job.id(), lease.lease_id(), "m.qmodel", model, 65536).ok());

  std::string upper = sha256;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string bytes;
  grpc::Status intact = Download(upper, &bytes);
  ASSERT_TRUE(intact.ok()) << intact.error_message();
  EXPECT_EQ(bytes, model);

  // One byte flipped, the length kept.
  std::string damaged = model;
  damaged[150000] = 'X';
  std::filesystem::permissions(BlobPath(sha256), std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  { std::ofstream(BlobPath(sha256), std::ios::binary | std::ios::trunc) << damaged; }
  bytes.clear();
  grpc::Status flipped = Download(sha256, &bytes);
  EXPECT_EQ(flipped.error_code(), grpc::StatusCode::DATA_LOSS) << flipped.error_message();
  EXPECT_NE(flipped.error_message().find("no longer has its sha256"), std::string::npos) << flipped.error_message();
  EXPECT_TRUE(bytes.empty()) << "nothing of a damaged blob is sent";

  // Cut short.
  std::filesystem::resize_file(BlobPath(sha256), 1000);
  bytes.clear();
  EXPECT_EQ(Download(sha256, &bytes).error_code(), grpc::StatusCode::DATA_LOSS);
}

// The real server and its local worker: the server's blob store breaks
// after start (its tmp directory replaced by a file, which fails as a
// read-only or full disk would, even for root). The worker's upload of the
// model is refused and the job fails at once with the storage error.
TEST(StorageFailureTest, AModelTheServerCannotStoreFailsTheJobWithTheStorageError) {
  test_support::TempDir dir;
  {
    std::ofstream csv(dir.File("digits.csv"));
    for (int row = 0; row < 20; ++row) {
      csv << row % 10;
      for (int i = 0; i < 64; ++i) csv << "," << (i * 7 + row * 31) % 256;
      csv << "\n";
    }
  }
  const int port = test_support::FreeLoopbackPort();
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server = test_support::LoggedChild::Start(
      {QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir", dir.File("data"),
       "--local-workers", "1", "--log-level", "warn", "--lease-seconds", "60", "--worker-binary", QATLAB_WORKER_BINARY},
      dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto experiments = v1::ExperimentService::NewStub(channel);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << (*server)->Log();

  std::filesystem::remove_all(dir.File("data") + "/tmp");
  { std::ofstream(dir.File("data") + "/tmp") << "not a directory"; }

  v1::JobSpec spec = SmallSpec();
  spec.mutable_model()->set_preset("mlp");
  spec.mutable_data()->set_source("csv");
  spec.mutable_data()->set_train_images(dir.File("digits.csv"));
  spec.mutable_data()->set_test_images(dir.File("digits.csv"));
  spec.mutable_data()->set_height(8);
  spec.mutable_data()->set_width(8);
  spec.mutable_ptq()->set_calibration_samples(8);
  spec.set_skip_qat(true);
  const std::optional<v1::Job> ended =
      SubmitAndWaitForEnd(*experiments, spec, milliseconds(50000), [&] { return (*server)->Log(); });
  ASSERT_TRUE(ended.has_value());
  const v1::Job& job = *ended;
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_EQ(job.attempt(), 1);
  EXPECT_NE(job.error().find("storing artifact"), std::string::npos) << job.error();
  EXPECT_NE(job.error().find("/tmp"), std::string::npos) << "the error names what failed: " << job.error();
  (*server)->Stop(milliseconds(10000));
}

// The pids of `parent`'s child processes (from /proc).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(parent) + "/task")) {
    std::ifstream in(task.path() / "children");
    pid_t child = 0;
    while (in >> child) children.push_back(child);
  }
  return children;
}

// The real server with one local worker running a long job; the worker is
// SIGKILLed. The supervisor knows which job it held and gives it back at
// once: it runs again (attempt 2) long before its 60 s lease would expire.
TEST(DeadWorkerTest, TheJobOfAKilledLocalWorkerIsReleasedAtOnce) {
  test_support::TempDir dir;
  const int port = test_support::FreeLoopbackPort();
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server = test_support::LoggedChild::Start(
      {QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir", dir.File("data"),
       "--local-workers", "1", "--log-level", "warn", "--lease-seconds", "60", "--worker-binary", QATLAB_WORKER_BINARY,
       "--data-cache", DefaultDataCacheDir()},
      dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto experiments = v1::ExperimentService::NewStub(channel);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << (*server)->Log();

  v1::JobSpec spec = SmallSpec();
  spec.mutable_training()->set_epochs(1000);  // far longer than the test
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse submitted;
  grpc::ClientContext submit_context;
  ASSERT_TRUE(experiments->SubmitJob(&submit_context, request, &submitted).ok());
  auto get = [&] {
    grpc::ClientContext context;
    v1::GetJobRequest get_request;
    get_request.set_id(submitted.job().id());
    v1::Job job;
    experiments->GetJob(&context, get_request, &job);
    return job;
  };
  ASSERT_TRUE(test_support::WaitUntil([&] { return get().state() == v1::RUNNING; }, milliseconds(30000),
                                      "the local worker to lease the job"))
      << (*server)->Log();
  const std::vector<pid_t> workers = ChildrenOf((*server)->pid());
  ASSERT_EQ(workers.size(), 1u);
  ASSERT_EQ(::kill(workers[0], SIGKILL), 0);

  v1::Job job;
  ASSERT_TRUE(test_support::WaitUntil(
      [&] {
        job = get();
        return job.attempt() >= 2 || IsTerminal(job.state());
      },
      milliseconds(20000), "the job to run again (its lease is 60 s)"))
      << (*server)->Log();
  EXPECT_NE(job.state(), v1::FAILED) << job.error();
  EXPECT_NE(job.error().find("worker local-1 died (killed by signal 9) (attempt 1 of 3)"), std::string::npos)
      << job.error();
  (*server)->Stop(milliseconds(10000));
}

// Makes the files given immutable (chattr +i), which refuses every write,
// even root's, on file systems that support the flag (ext4, xfs, btrfs); the
// flag is cleared again on destruction, so TempDir can remove the files.
class ImmutableFiles {
 public:
  explicit ImmutableFiles(std::vector<std::string> paths) : paths_(std::move(paths)) {}
  ~ImmutableFiles() { Set(false); }
  // Empty when every file got the flag; otherwise why not.
  std::string Set(bool immutable) {
    for (const std::string& path : paths_) {
      const CapturedRun run = test_support::RunCommand({"chattr", immutable ? "+i" : "-i", path}, milliseconds(10000));
      if (run.exit_status != 0) return "chattr on " + path + ": " + run.err + run.out;
    }
    return "";
  }

 private:
  std::vector<std::string> paths_;
};

// The real server: its database files become unwritable while it runs (the
// immutable flag: chmod does not stop root, the flag does). Health turns
// NOT_SERVING for the server and both services, a submission fails with the
// storage error, and once the files can be written again health is SERVING
// and submissions are taken.
TEST(UnwritableDatabaseTest, HealthIsNotServingWhileTheDatabaseCannotBeWritten) {
  test_support::TempDir dir;
  const int port = test_support::FreeLoopbackPort();
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server =
      test_support::LoggedChild::Start({QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port),
                                        "--data-dir", dir.File("data"), "--log-level", "info"},
                                       dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto experiments = v1::ExperimentService::NewStub(channel);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << (*server)->Log();
  const std::vector<std::string> names = {"", "qatlab.v1.ExperimentService", "qatlab.v1.WorkerService"};
  auto all_report = [&](const std::string& expected) {
    for (const std::string& name : names) {
      if (testing::CheckHealth(channel, name).second != expected) return false;
    }
    return true;
  };
  ASSERT_TRUE(all_report(testing::kHealthServing));
  auto submit = [&] {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallSpec();
    v1::SubmitJobResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + milliseconds(10000));
    return experiments->SubmitJob(&context, request, &response);
  };
  ASSERT_TRUE(submit().ok());

  ImmutableFiles database({dir.File("data") + "/qatlab.db", dir.File("data") + "/qatlab.db-wal"});
  if (std::string why = database.Set(true); !why.empty()) {
    GTEST_SKIP() << "cannot make the database immutable here (needs CAP_LINUX_IMMUTABLE on ext4/xfs/btrfs): " << why;
  }
  const grpc::Status refused = submit();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INTERNAL) << refused.error_message();
  EXPECT_NE(refused.error_message().find("qatlab.db"), std::string::npos) << refused.error_message();
  EXPECT_TRUE(WaitUntil([&] { return all_report(testing::kHealthNotServing); }, milliseconds(15000),
                        "health NOT_SERVING for the server and both services"))
      << (*server)->Log();
  EXPECT_NE((*server)->Log().find("the database cannot be written"), std::string::npos) << (*server)->Log();

  ASSERT_EQ(database.Set(false), "");
  EXPECT_TRUE(WaitUntil([&] { return all_report(testing::kHealthServing); }, milliseconds(15000),
                        "health SERVING again once the database can be written"))
      << (*server)->Log();
  EXPECT_TRUE(submit().ok());
  (*server)->Stop(milliseconds(10000));
}

}  // namespace
}  // namespace qatlab::server
