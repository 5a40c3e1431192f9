// Roles: client and admin tokens for ExperimentService, worker tokens for
// WorkerService. Every RPC of both services is called with each role's
// token: a role the service does not admit gets PERMISSION_DENIED before the
// request is looked at; an admitted role gets past authentication to the
// request's real answer. Then the story the roles exist for: a client cannot
// lease a job and complete it with made-up accuracies; a worker can.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server_fixture.h"

namespace qatlab::server::testing {
namespace {

constexpr const char* kClientToken = "client-token-1";
constexpr const char* kWorkerToken = "worker-token-1";
constexpr const char* kAdminToken = "admin-token-1";

struct Rpc {
  std::string service;  // "ExperimentService" or "WorkerService"
  std::string method;
  // Calls the RPC with a request that carries no real work and returns its status.
  std::function<grpc::Status(grpc::ClientContext*)> call;
};

// Drains a server stream and returns how it ended.
template <typename Reader, typename Message>
grpc::Status Drain(Reader reader) {
  Message message;
  while (reader->Read(&message)) {
  }
  return reader->Finish();
}

class RolesTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    options_.tokens = {{Role::kClient, kClientToken}, {Role::kWorker, kWorkerToken}, {Role::kAdmin, kAdminToken}};
    options_.max_client_priority = 5;
    StartServer();
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = Context();
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  // Every RPC of both services, each with a harmless request.
  std::vector<Rpc> AllRpcs() {
    auto* e = experiments_.get();
    auto* w = workers_.get();
    std::vector<Rpc> rpcs = {
        {"ExperimentService", "SubmitJob",
         [e](grpc::ClientContext* c) {
           v1::SubmitJobRequest r;
           v1::SubmitJobResponse out;
           return e->SubmitJob(c, r, &out);  // no spec: INVALID_ARGUMENT once admitted
         }},
        {"ExperimentService", "GetJob",
         [e](grpc::ClientContext* c) {
           v1::GetJobRequest r;
           r.set_id("j-nope");
           v1::Job out;
           return e->GetJob(c, r, &out);
         }},
        {"ExperimentService", "ListJobs",
         [e](grpc::ClientContext* c) {
           v1::ListJobsRequest r;
           v1::ListJobsResponse out;
           return e->ListJobs(c, r, &out);
         }},
        {"ExperimentService", "WatchJob",
         [e](grpc::ClientContext* c) {
           v1::WatchJobRequest r;
           r.set_id("j-nope");
           return Drain<decltype(e->WatchJob(c, r)), v1::JobEvent>(e->WatchJob(c, r));
         }},
        {"ExperimentService", "CancelJob",
         [e](grpc::ClientContext* c) {
           v1::CancelJobRequest r;
           r.set_id("j-nope");
           v1::Job out;
           return e->CancelJob(c, r, &out);
         }},
        {"ExperimentService", "GetResults",
         [e](grpc::ClientContext* c) {
           v1::GetResultsRequest r;
           r.set_id("j-nope");
           v1::GetResultsResponse out;
           return e->GetResults(c, r, &out);
         }},
        {"ExperimentService", "UploadDataset",
         [e](grpc::ClientContext* c) {
           v1::Dataset out;
           auto writer = e->UploadDataset(c, &out);
           writer->WritesDone();
           return writer->Finish();  // empty upload: INVALID_ARGUMENT once admitted
         }},
        {"ExperimentService", "ListDatasets",
         [e](grpc::ClientContext* c) {
           v1::ListDatasetsRequest r;
           v1::ListDatasetsResponse out;
           return e->ListDatasets(c, r, &out);
         }},
        {"ExperimentService", "DownloadArtifact",
         [e](grpc::ClientContext* c) {
           v1::DownloadArtifactRequest r;
           r.set_sha256(std::string(64, '0'));
           return Drain<decltype(e->DownloadArtifact(c, r)), v1::ArtifactChunk>(e->DownloadArtifact(c, r));
         }},
        {"ExperimentService", "ListDevices",
         [e](grpc::ClientContext* c) {
           v1::ListDevicesRequest r;
           v1::ListDevicesResponse out;
           return e->ListDevices(c, r, &out);
         }},
        {"ExperimentService", "Measure",
         [e](grpc::ClientContext* c) {
           v1::MeasureRequest r;
           v1::MeasureResponse out;
           return e->Measure(c, r, &out);
         }},
        {"ExperimentService", "UploadModel",
         [e](grpc::ClientContext* c) {
           v1::Model out;
           auto writer = e->UploadModel(c, &out);
           writer->WritesDone();
           return writer->Finish();  // empty upload: INVALID_ARGUMENT once admitted
         }},
        {"ExperimentService", "ListModels",
         [e](grpc::ClientContext* c) {
           v1::ListModelsRequest r;
           v1::ListModelsResponse out;
           return e->ListModels(c, r, &out);
         }},
        {"ExperimentService", "ExportModel",
         [e](grpc::ClientContext* c) {
           v1::ExportModelRequest r;
           r.set_job_id("j-nope");
           r.set_variant("qat_w8a8");
           r.set_format("qmodel");
           return Drain<decltype(e->ExportModel(c, r)), v1::ExportChunk>(e->ExportModel(c, r));
         }},
        {"ExperimentService", "CancelMeasurement",
         [e](grpc::ClientContext* c) {
           v1::CancelMeasurementRequest r;
           r.set_measurement_id("m-nope");
           v1::Measurement out;
           return e->CancelMeasurement(c, r, &out);
         }},
        {"ExperimentService", "SubmitSweep",
         [e](grpc::ClientContext* c) {
           v1::SubmitSweepRequest r;
           v1::SweepStatus out;
           return e->SubmitSweep(c, r, &out);  // no spec: INVALID_ARGUMENT once admitted
         }},
        {"ExperimentService", "GetSweep",
         [e](grpc::ClientContext* c) {
           v1::GetSweepRequest r;
           r.set_id("s-nope");
           v1::SweepStatus out;
           return e->GetSweep(c, r, &out);
         }},
        {"ExperimentService", "CancelSweep",
         [e](grpc::ClientContext* c) {
           v1::CancelSweepRequest r;
           r.set_id("s-nope");
           v1::SweepStatus out;
           return e->CancelSweep(c, r, &out);
         }},
        {"ExperimentService", "SubmitSearch",
         [e](grpc::ClientContext* c) {
           v1::SubmitSearchRequest r;
           v1::Search out;
           return e->SubmitSearch(c, r, &out);  // no spec: INVALID_ARGUMENT once admitted
         }},
        {"ExperimentService", "GetSearch",
         [e](grpc::ClientContext* c) {
           v1::GetSearchRequest r;
           r.set_id("se-nope");
           v1::Search out;
           return e->GetSearch(c, r, &out);
         }},
        {"ExperimentService", "ListSearches",
         [e](grpc::ClientContext* c) {
           v1::ListSearchesRequest r;
           v1::ListSearchesResponse out;
           return e->ListSearches(c, r, &out);
         }},
        {"ExperimentService", "CancelSearch",
         [e](grpc::ClientContext* c) {
           v1::CancelSearchRequest r;
           r.set_id("se-nope");
           v1::Search out;
           return e->CancelSearch(c, r, &out);
         }},
        {"WorkerService", "LeaseJob",
         [w](grpc::ClientContext* c) {
           v1::LeaseJobRequest r;
           r.set_worker_id("roles-test");
           r.set_wait_ms(0);
           v1::LeaseJobResponse out;
           return w->LeaseJob(c, r, &out);
         }},
        {"WorkerService", "Heartbeat",
         [w](grpc::ClientContext* c) {
           v1::HeartbeatRequest r;
           r.set_job_id("j-nope");
           r.set_lease_id("l-nope");
           v1::HeartbeatResponse out;
           return w->Heartbeat(c, r, &out);
         }},
        {"WorkerService", "CompleteJob",
         [w](grpc::ClientContext* c) {
           v1::CompleteJobRequest r;
           r.set_job_id("j-nope");
           r.set_lease_id("l-nope");
           v1::CompleteJobResponse out;
           return w->CompleteJob(c, r, &out);
         }},
        {"WorkerService", "FailJob",
         [w](grpc::ClientContext* c) {
           v1::FailJobRequest r;
           r.set_job_id("j-nope");
           r.set_lease_id("l-nope");
           v1::FailJobResponse out;
           return w->FailJob(c, r, &out);
         }},
        {"WorkerService", "UploadArtifact",
         [w](grpc::ClientContext* c) {
           v1::UploadArtifactResponse out;
           auto writer = w->UploadArtifact(c, &out);
           writer->WritesDone();
           return writer->Finish();
         }},
        {"WorkerService", "FetchDataset",
         [w](grpc::ClientContext* c) {
           v1::FetchDatasetRequest r;
           r.set_name("nope");
           return Drain<decltype(w->FetchDataset(c, r)), v1::ArtifactChunk>(w->FetchDataset(c, r));
         }},
        {"WorkerService", "FetchModel",
         [w](grpc::ClientContext* c) {
           v1::FetchModelRequest r;
           r.set_name("nope");
           return Drain<decltype(w->FetchModel(c, r)), v1::ArtifactChunk>(w->FetchModel(c, r));
         }},
        {"WorkerService", "DownloadArtifact",
         [w](grpc::ClientContext* c) {
           v1::DownloadArtifactRequest r;
           r.set_sha256(std::string(64, '0'));
           return Drain<decltype(w->DownloadArtifact(c, r)), v1::ArtifactChunk>(w->DownloadArtifact(c, r));
         }},
        {"WorkerService", "GetJob",
         [w](grpc::ClientContext* c) {
           v1::GetJobRequest r;
           r.set_id("j-nope");
           v1::Job out;
           return w->GetJob(c, r, &out);
         }},
        {"WorkerService", "RegisterDevice",
         [w](grpc::ClientContext* c) {
           v1::RegisterDeviceRequest r;  // no name: INVALID_ARGUMENT once admitted
           v1::RegisterDeviceResponse out;
           return w->RegisterDevice(c, r, &out);
         }},
        {"WorkerService", "LeaseMeasurement",
         [w](grpc::ClientContext* c) {
           v1::LeaseMeasurementRequest r;
           r.set_device_id("d-nope");
           v1::LeaseMeasurementResponse out;
           return w->LeaseMeasurement(c, r, &out);
         }},
        {"WorkerService", "HeartbeatMeasurement",
         [w](grpc::ClientContext* c) {
           v1::HeartbeatMeasurementRequest r;
           r.set_measurement_id("m-nope");
           r.set_lease_id("l-nope");
           v1::HeartbeatResponse out;
           return w->HeartbeatMeasurement(c, r, &out);
         }},
        {"WorkerService", "CompleteMeasurement",
         [w](grpc::ClientContext* c) {
           v1::CompleteMeasurementRequest r;
           r.set_measurement_id("m-nope");
           r.set_lease_id("l-nope");
           v1::CompleteJobResponse out;
           return w->CompleteMeasurement(c, r, &out);
         }},
        {"WorkerService", "FailMeasurement",
         [w](grpc::ClientContext* c) {
           v1::FailMeasurementRequest r;
           r.set_measurement_id("m-nope");
           r.set_lease_id("l-nope");
           v1::FailJobResponse out;
           return w->FailMeasurement(c, r, &out);
         }},
    };
    return rpcs;
  }
};

// The table must name every method of both services, so an RPC added later
// cannot slip past the role check untested.
TEST_F(RolesTest, TheTableCoversEveryRpcOfBothServices) {
  std::set<std::string> in_table;
  for (const Rpc& rpc : AllRpcs()) in_table.insert(rpc.service + "." + rpc.method);
  std::set<std::string> declared;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {"qatlab.v1.ExperimentService", "qatlab.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i)
      declared.insert(service->name() + "." + service->method(i)->name());
  }
  EXPECT_EQ(in_table, declared);
}

TEST_F(RolesTest, EachRoleIsRefusedTheOtherServiceAndAdmittedToItsOwn) {
  struct Caller {
    const char* role;
    const char* token;
    const char* own_service;
  };
  const Caller callers[] = {{"client", kClientToken, "ExperimentService"},
                            {"admin", kAdminToken, "ExperimentService"},
                            {"worker", kWorkerToken, "WorkerService"}};
  for (const Caller& caller : callers) {
    for (const Rpc& rpc : AllRpcs()) {
      SCOPED_TRACE(std::string(caller.role) + " calls " + rpc.service + "." + rpc.method);
      grpc::Status status = rpc.call(As(caller.token).get());
      if (rpc.service == caller.own_service) {
        EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
        EXPECT_NE(status.error_message().find(std::string("a ") + caller.role + " token may not call " + rpc.service),
                  std::string::npos)
            << status.error_message();
      }
    }
  }
  // Without a token, or with an unknown one, every RPC is UNAUTHENTICATED.
  for (const Rpc& rpc : AllRpcs()) {
    SCOPED_TRACE(rpc.service + "." + rpc.method);
    EXPECT_EQ(rpc.call(Context().get()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(rpc.call(As("made-up").get()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

// The hole the roles close: a client leasing a job and completing it with
// invented accuracies. With a client token the lease is refused and the job
// stays QUEUED; a worker token leases and completes it.
TEST_F(RolesTest, OnlyAWorkerTokenLeasesAndCompletesAJob) {
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SmallSpec("roles");
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(experiments_->SubmitJob(As(kClientToken).get(), submit, &submitted).ok());

  v1::LeaseJobRequest lease_request;
  lease_request.set_worker_id("impostor");
  v1::LeaseJobResponse lease;
  EXPECT_EQ(workers_->LeaseJob(As(kClientToken).get(), lease_request, &lease).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server_->store().Get(submitted.job().id())->state(), v1::QUEUED);

  lease_request.set_worker_id("real-worker");
  ASSERT_TRUE(workers_->LeaseJob(As(kWorkerToken).get(), lease_request, &lease).ok());
  ASSERT_EQ(lease.job().id(), submitted.job().id());
  v1::CompleteJobRequest complete;
  complete.set_job_id(lease.job().id());
  complete.set_lease_id(lease.lease_id());
  complete.mutable_result();
  v1::CompleteJobResponse completed;
  // Even holding the lease id, a client token cannot complete the job.
  EXPECT_EQ(workers_->CompleteJob(As(kClientToken).get(), complete, &completed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server_->store().Get(submitted.job().id())->state(), v1::RUNNING);
  grpc::Status by_worker = workers_->CompleteJob(As(kWorkerToken).get(), complete, &completed);
  EXPECT_TRUE(by_worker.ok()) << by_worker.error_message();
  EXPECT_EQ(server_->store().Get(submitted.job().id())->state(), v1::SUCCEEDED);
}

// Priorities above --max-client-priority (5 here) need an admin token.
TEST_F(RolesTest, PrioritiesAboveTheClientLimitNeedAnAdmin) {
  auto submit = [&](const char* token, int priority) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallSpec("priority", priority);
    v1::SubmitJobResponse response;
    return experiments_->SubmitJob(As(token).get(), request, &response);
  };
  EXPECT_TRUE(submit(kClientToken, 5).ok());
  EXPECT_TRUE(submit(kClientToken, -10).ok());
  grpc::Status refused = submit(kClientToken, 6);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(refused.error_message().find("spec.priority: 6"), std::string::npos) << refused.error_message();
  EXPECT_NE(refused.error_message().find("admin"), std::string::npos) << refused.error_message();
  EXPECT_TRUE(submit(kAdminToken, 1000).ok());
  v1::ListJobsRequest list;
  v1::ListJobsResponse listed;
  ASSERT_TRUE(experiments_->ListJobs(As(kAdminToken).get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 3);  // the refused one was not stored
}

// Refused calls reach the log with the caller's address, at most one line
// per second however many come.
TEST_F(RolesTest, RefusalsAreLoggedRateLimitedWithThePeer) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  spdlog::default_logger()->sinks().push_back(sink);
  for (int i = 0; i < 50; ++i) {
    v1::GetJobRequest r;
    r.set_id("j-nope");
    v1::Job out;
    EXPECT_EQ(experiments_->GetJob(As("wrong-token").get(), r, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  spdlog::default_logger()->sinks().pop_back();
  const std::string log = captured.str();
  EXPECT_NE(log.find("refused a call to ExperimentService from ipv4:127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("invalid token"), std::string::npos) << log;
  size_t lines = 0;
  for (char c : log) lines += c == '\n';
  EXPECT_GE(lines, 1u);
  EXPECT_LT(lines, 10u) << log;  // 50 refusals in well under 10 s
}

}  // namespace
}  // namespace qatlab::server::testing
