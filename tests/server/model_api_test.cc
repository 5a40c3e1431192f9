// Models through the API of an in-process server on loopback: uploads checked
// by the importer before anything is stored, submissions that name them, and
// the export of a job's variants with one clear error for each wrong request.
//
// Tests named OnnxModel* need the real ONNX importer (model_import/): they
// upload a model it must accept.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/qmodel_writer.h"
#include "server/rpc/blob_transfer.h"
#include "server_fixture.h"
#include "tests/kernels/small_models.h"
#include "tests/server/tiny_onnx_model.h"

namespace qatlab::server {
namespace {

using testing::ServerFixture;
using testing::SmallSpec;
using Code = grpc::StatusCode;

class ModelApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }

  grpc::Status UploadModelFile(const std::string& name, const std::string& bytes, v1::Model* out = nullptr) {
    v1::Model model;
    auto context = Context();
    auto stream = experiments_->UploadModel(context.get(), &model);
    v1::UploadModelRequest header;
    header.mutable_header()->set_name(name);
    header.mutable_header()->set_sha256(Sha256Hex(bytes));
    header.mutable_header()->set_size(static_cast<int64_t>(bytes.size()));
    grpc::Status status = UploadInChunks(*stream, header, bytes, 1000);
    if (out != nullptr) *out = model;
    return status;
  }

  std::vector<v1::Model> ListModels() {
    v1::ListModelsResponse response;
    grpc::Status status = experiments_->ListModels(Context().get(), v1::ListModelsRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.models().begin(), response.models().end()};
  }

  grpc::Status SubmitSpec(const v1::JobSpec& spec, v1::Job* job = nullptr) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    grpc::Status status = experiments_->SubmitJob(Context().get(), request, &response);
    if (job != nullptr) *job = response.job();
    return status;
  }

  int JobCount() {
    v1::ListJobsResponse response;
    EXPECT_TRUE(experiments_->ListJobs(Context().get(), v1::ListJobsRequest(), &response).ok());
    return response.jobs_size();
  }

  // Every file under the server's data directory whose name is `sha256`.
  int BlobsNamed(const std::string& sha256) {
    int found = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (entry.path().filename() == sha256) ++found;
    }
    return found;
  }

  // Runs ExportModel to the end; the files' bytes in order in *files.
  grpc::Status Export(const std::string& job_id, const std::string& variant, const std::string& format,
                      std::vector<std::pair<std::string, std::string>>* files = nullptr) {
    v1::ExportModelRequest request;
    request.set_job_id(job_id);
    request.set_variant(variant);
    request.set_format(format);
    auto context = Context();
    auto reader = experiments_->ExportModel(context.get(), request);
    v1::ExportChunk chunk;
    std::vector<std::pair<std::string, std::string>> received;
    while (reader->Read(&chunk)) {
      if (!chunk.file_name().empty()) received.emplace_back(chunk.file_name(), "");
      if (!received.empty()) received.back().second += chunk.data();
    }
    if (files != nullptr) *files = received;
    return reader->Finish();
  }

  // A job that SUCCEEDED with a float and a qat_w8a8 variant, whose
  // qat_w8a8.qmodel artifact holds `qmodel`.
  std::string SucceededJob(const std::string& qmodel) {
    return SucceededJobWithQatModel(SmallSpec("export"), qmodel, 100);
  }
};

v1::JobSpec SpecWithOnnx(const std::string& onnx) {
  v1::JobSpec spec = SmallSpec("onnx");
  spec.mutable_model()->Clear();
  spec.mutable_model()->set_onnx(onnx);
  return spec;
}

// --- upload ---

TEST_F(ModelApiTest, OnnxModelUploadIsStoredListedAndIdempotent) {
  const std::string bytes = qatlab::testing::TinyOnnxLinearModel();
  v1::Model stored;
  grpc::Status uploaded = UploadModelFile("tiny", bytes, &stored);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error_message();
  EXPECT_EQ(stored.sha256(), Sha256Hex(bytes));
  EXPECT_EQ(stored.size(), static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(stored.input_height(), 28);
  EXPECT_EQ(stored.input_width(), 28);
  EXPECT_EQ(stored.input_channels(), 1);
  EXPECT_EQ(stored.num_classes(), 10);

  std::vector<v1::Model> listed = ListModels();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name(), "tiny");
  EXPECT_EQ(listed[0].sha256(), stored.sha256());

  // The same bytes again: the record stored the first time, nothing new.
  v1::Model again;
  ASSERT_TRUE(UploadModelFile("tiny", bytes, &again).ok());
  EXPECT_EQ(again.sha256(), stored.sha256());
  EXPECT_EQ(again.created_unix_ms(), stored.created_unix_ms());
  EXPECT_EQ(ListModels().size(), 1u);
  EXPECT_EQ(BlobsNamed(stored.sha256()), 1);

  // The name cannot be given other bytes.
  grpc::Status clash = UploadModelFile("tiny", qatlab::testing::TinyOnnxLinearModel(7));
  EXPECT_EQ(clash.error_code(), Code::ALREADY_EXISTS) << clash.error_message();
  EXPECT_NE(clash.error_message().find("immutable"), std::string::npos) << clash.error_message();
  EXPECT_EQ(ListModels().size(), 1u);
}

TEST_F(ModelApiTest, NonOnnxAndTruncatedFilesAreRefusedAndNothingIsStored) {
  const std::string junk = "this is a CSV file, not a model\n1,2,3\n";
  grpc::Status refused = UploadModelFile("junk", junk);
  EXPECT_EQ(refused.error_code(), Code::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_NE(refused.error_message().find("model 'junk' cannot be imported"), std::string::npos)
      << refused.error_message();

  const std::string model = qatlab::testing::TinyOnnxLinearModel();
  const std::string truncated = model.substr(0, model.size() / 2);
  grpc::Status cut = UploadModelFile("cut", truncated);
  EXPECT_EQ(cut.error_code(), Code::INVALID_ARGUMENT) << cut.error_message();
  EXPECT_NE(cut.error_message().find("model 'cut'"), std::string::npos) << cut.error_message();

  EXPECT_TRUE(ListModels().empty());
  EXPECT_EQ(BlobsNamed(Sha256Hex(junk)), 0);
  EXPECT_EQ(BlobsNamed(Sha256Hex(truncated)), 0);
}

TEST_F(ModelApiTest, AModelThatCrashesLibonnxIsRefusedAndTheServerKeepsServing) {
#if defined(QATLAB_TSAN)
  // Whether libonnx faults on this input depends on the memory layout: under
  // ThreadSanitizer's allocator it refuses the model cleanly instead (seen:
  // "input 'x': 3-D; …"), so the crash this test needs does not happen. The
  // release and ASan suites run it.
  GTEST_SKIP() << "libonnx's fault on this input does not happen under ThreadSanitizer's allocator";
#endif
  // fuzz/onnx_fuzzer.cc's SIGSEGV in libonnx's shape inference: checked in
  // qatlab-onnx-inspect, so it ends the inspector, not this process's server.
  std::ifstream in(std::string(QATLAB_SOURCE_DIR) + "/fuzz/crashes/onnx/segv-in-conv-pool-shape-inference",
                   std::ios::binary);
  ASSERT_TRUE(in);
  std::ostringstream crash;
  crash << in.rdbuf();
  grpc::Status refused = UploadModelFile("crash", crash.str());
  EXPECT_EQ(refused.error_code(), Code::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_EQ(refused.error_message(),
            "model 'crash' cannot be imported: the ONNX model could not be checked: the inspector crashed (signal 11)");
  EXPECT_EQ(BlobsNamed(Sha256Hex(crash.str())), 0);

  // Still serving: the next request, and the next upload, work.
  EXPECT_TRUE(ListModels().empty());
  grpc::Status uploaded = UploadModelFile("tiny", qatlab::testing::TinyOnnxLinearModel());
  ASSERT_TRUE(uploaded.ok()) << uploaded.error_message();
  ASSERT_EQ(ListModels().size(), 1u);
}

TEST_F(ModelApiTest, UploadsWithBadHeadersAreRefused) {
  EXPECT_EQ(UploadModelFile("../up", "bytes").error_code(), Code::INVALID_ARGUMENT);
  EXPECT_EQ(UploadModelFile("", "bytes").error_code(), Code::INVALID_ARGUMENT);

  // Bytes that do not match the announced sha256.
  v1::Model model;
  auto context = Context();
  auto stream = experiments_->UploadModel(context.get(), &model);
  v1::UploadModelRequest header;
  header.mutable_header()->set_name("liar");
  header.mutable_header()->set_sha256(Sha256Hex("other bytes"));
  grpc::Status corrupt = UploadInChunks(*stream, header, std::string_view("these bytes"), 4);
  EXPECT_EQ(corrupt.error_code(), Code::INVALID_ARGUMENT) << corrupt.error_message();
  EXPECT_NE(corrupt.error_message().find("sha256"), std::string::npos) << corrupt.error_message();
  EXPECT_TRUE(ListModels().empty());
}

// --- submission ---

TEST_F(ModelApiTest, AJobNamingAMissingModelIsRefusedAtSubmission) {
  grpc::Status refused = SubmitSpec(SpecWithOnnx("model:nope"));
  EXPECT_EQ(refused.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("model 'nope' has not been uploaded"), std::string::npos)
      << refused.error_message();
  grpc::Status unnamed = SubmitSpec(SpecWithOnnx("model:"));
  EXPECT_EQ(unnamed.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(unnamed.error_message().find("names no model"), std::string::npos) << unnamed.error_message();
  EXPECT_EQ(JobCount(), 0);
}

TEST_F(ModelApiTest, AModelIsExactlyOneOfPresetLayersOrOnnx) {
  v1::JobSpec both = SpecWithOnnx("/models/net.onnx");
  both.mutable_model()->set_preset("mlp");
  grpc::Status refused = SubmitSpec(both);
  EXPECT_EQ(refused.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("exactly one of preset, layers and onnx (this spec gives preset and onnx)"),
            std::string::npos)
      << refused.error_message();

  v1::JobSpec none = SmallSpec();
  none.mutable_model()->Clear();
  grpc::Status empty = SubmitSpec(none);
  EXPECT_EQ(empty.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(empty.error_message().find("model: give a preset"), std::string::npos) << empty.error_message();
  EXPECT_EQ(JobCount(), 0);

  // A path on the worker is the worker's to check; the rest of the spec is
  // still checked here.
  v1::JobSpec bad_rest = SpecWithOnnx("/models/net.onnx");
  bad_rest.mutable_training()->set_batch_size(-1);
  grpc::Status rest = SubmitSpec(bad_rest);
  EXPECT_EQ(rest.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(rest.error_message().find("training.batch_size"), std::string::npos) << rest.error_message();
  v1::Job job;
  grpc::Status accepted = SubmitSpec(SpecWithOnnx("/models/net.onnx"), &job);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(job.spec().model().onnx(), "/models/net.onnx");
  EXPECT_TRUE(job.spec().model().preset().empty());
}

TEST_F(ModelApiTest, OnnxModelSubmissionChecksTheModelAgainstMnist) {
  ASSERT_TRUE(UploadModelFile("seven", qatlab::testing::TinyOnnxLinearModel(7)).ok());
  ASSERT_TRUE(UploadModelFile("wide", qatlab::testing::TinyOnnxLinearModel(10, 32, 32, 3)).ok());
  ASSERT_TRUE(UploadModelFile("digits", qatlab::testing::TinyOnnxLinearModel(10)).ok());

  grpc::Status classes = SubmitSpec(SpecWithOnnx("model:seven"));
  EXPECT_EQ(classes.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(classes.error_message().find("7 outputs but the mnist data have 10 classes"), std::string::npos)
      << classes.error_message();
  grpc::Status shape = SubmitSpec(SpecWithOnnx("model:wide"));
  EXPECT_EQ(shape.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(shape.error_message().find("32x32x3"), std::string::npos) << shape.error_message();
  EXPECT_EQ(JobCount(), 0);

  v1::Job job;
  grpc::Status accepted = SubmitSpec(SpecWithOnnx("model:digits"), &job);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(job.spec().model().onnx(), "model:digits");
}

// --- export ---

TEST_F(ModelApiTest, ExportAsQmodelGivesTheArtifactsBytesInChunks) {
  // A real .qmodel (the kernels' reader opens it before it is handed out),
  // large enough to need two chunks.
  naive::VectorGenerator generator(9);
  StatusOr<std::vector<uint8_t>> written = WriteQModel(test_models::Mlp(generator, 8));
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::string qmodel(written->begin(), written->end());
  ASSERT_GT(qmodel.size(), kDownloadChunkBytes);
  const std::string job_id = SucceededJob(qmodel);
  std::vector<std::pair<std::string, std::string>> files;
  grpc::Status exported = Export(job_id, "qat_w8a8", "qmodel", &files);
  ASSERT_TRUE(exported.ok()) << exported.error_message();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].first, "qat_w8a8.qmodel");
  EXPECT_TRUE(files[0].second == qmodel);
}

TEST_F(ModelApiTest, ADamagedArtifactIsNotExported) {
  const std::string job_id = SucceededJob("these bytes are no .qmodel");
  grpc::Status refused = Export(job_id, "qat_w8a8", "qmodel");
  EXPECT_EQ(refused.error_code(), Code::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_NE(refused.error_message().find("not a valid .qmodel"), std::string::npos) << refused.error_message();
}

TEST_F(ModelApiTest, ExportErrorsEachSayWhatIsWrong) {
  const std::string job_id = SucceededJob("qmodel bytes");

  grpc::Status float_variant = Export(job_id, "float", "qmodel");
  EXPECT_EQ(float_variant.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(float_variant.error_message().find("float model: it has no integer model"), std::string::npos)
      << float_variant.error_message();
  EXPECT_NE(float_variant.error_message().find("quantized variants: qat_w8a8"), std::string::npos)
      << float_variant.error_message();

  grpc::Status unknown_variant = Export(job_id, "qat_w3a8", "qmodel");
  EXPECT_EQ(unknown_variant.error_code(), Code::NOT_FOUND);
  EXPECT_NE(unknown_variant.error_message().find("no variant 'qat_w3a8' (its variants: float, qat_w8a8)"),
            std::string::npos)
      << unknown_variant.error_message();

  grpc::Status unknown_format = Export(job_id, "qat_w8a8", "tflite");
  EXPECT_EQ(unknown_format.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_NE(unknown_format.error_message().find("unknown export format 'tflite' (known: qmodel, onnx, c)"),
            std::string::npos)
      << unknown_format.error_message();

  grpc::Status unknown_job = Export("j-nosuchjob", "qat_w8a8", "qmodel");
  EXPECT_EQ(unknown_job.error_code(), Code::NOT_FOUND);
  EXPECT_NE(unknown_job.error_message().find("j-nosuchjob"), std::string::npos) << unknown_job.error_message();

  grpc::Status no_variant = Export(job_id, "", "qmodel");
  EXPECT_EQ(no_variant.error_code(), Code::INVALID_ARGUMENT);
}

TEST_F(ModelApiTest, ExportOfAFailedOrUnfinishedJobIsRefused) {
  v1::Job failed = Submit(SmallSpec("failing"));
  v1::LeaseJobResponse lease = Lease();
  ASSERT_EQ(lease.job().id(), failed.id());
  v1::FailJobRequest fail;
  fail.set_job_id(failed.id());
  fail.set_lease_id(lease.lease_id());
  fail.set_error("engine: out of memory");
  v1::FailJobResponse fail_response;
  ASSERT_TRUE(workers_->FailJob(Context().get(), fail, &fail_response).ok());

  grpc::Status refused = Export(failed.id(), "qat_w8a8", "qmodel");
  EXPECT_EQ(refused.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("is FAILED: engine: out of memory"), std::string::npos)
      << refused.error_message();

  v1::Job queued = Submit(SmallSpec("waiting"));
  grpc::Status waiting = Export(queued.id(), "qat_w8a8", "qmodel");
  EXPECT_EQ(waiting.error_code(), Code::FAILED_PRECONDITION);
  EXPECT_NE(waiting.error_message().find("is QUEUED"), std::string::npos) << waiting.error_message();
}

}  // namespace
}  // namespace qatlab::server
