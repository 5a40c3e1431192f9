// The measurement RPCs as a user and an agent reach them through the server:
// a measurement for a board kind no agent has registered is refused at once
// (it would wait in the queue forever), and a queued or running measurement
// can be cancelled: it ends CANCELLED, and stays so across a restart.
#include <grpcpp/client_context.h>

#include <string>

#include "server_fixture.h"
#include "tests/server/test_support.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using testing::ServerFixture;
using testing::SmallSpec;

class MeasurementApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
    job_id_ = FinishedJobWithAModel();
  }

  // A job that SUCCEEDED with one quantized variant and its .qmodel.
  std::string FinishedJobWithAModel() {
    const std::string model(1000, 'm');
    return SucceededJobWithQatModel(SmallSpec("measurement-api"), model, model.size());
  }

  grpc::Status Measure(const std::string& board_kind, v1::MeasureResponse* response) {
    v1::MeasureRequest request;
    request.set_job_id(job_id_);
    request.set_board_kind(board_kind);
    return experiments_->Measure(Context().get(), request, response);
  }

  grpc::Status Cancel(const std::string& measurement_id, v1::Measurement* response) {
    v1::CancelMeasurementRequest request;
    request.set_measurement_id(measurement_id);
    return experiments_->CancelMeasurement(Context().get(), request, response);
  }

  // The measurement as GetResults reports it with its job's results.
  v1::Measurement Reported(const std::string& measurement_id) {
    v1::GetResultsRequest request;
    request.set_id(job_id_);
    v1::GetResultsResponse results;
    grpc::Status status = experiments_->GetResults(Context().get(), request, &results);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const v1::Measurement& m : results.measurements()) {
      if (m.id() == measurement_id) return m;
    }
    ADD_FAILURE() << "GetResults of " << job_id_ << " has no measurement " << measurement_id;
    return v1::Measurement();
  }

  grpc::Status Lease(const std::string& device_id, v1::LeaseMeasurementResponse* leased) {
    v1::LeaseMeasurementRequest lease;
    lease.set_device_id(device_id);
    return workers_->LeaseMeasurement(Context().get(), lease, leased);
  }

  std::string job_id_;
};

TEST_F(MeasurementApiTest, UnregisteredBoardKindIsRefusedNamingTheRegisteredOnes) {
  v1::MeasureResponse response;
  grpc::Status before_any = Measure("mps2-an386", &response);
  EXPECT_EQ(before_any.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(before_any.error_message().find("no agent has registered a mps2-an386 board"), std::string::npos)
      << before_any.error_message();
  EXPECT_NE(before_any.error_message().find("registered kinds: none"), std::string::npos) << before_any.error_message();

  RegisterBoard("bench-1", "mps2-an386");
  RegisterBoard("bench-2", "netduinoplus2");
  grpc::Status unknown = Measure("nucleo-f411re", &response);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(unknown.error_message().find("registered kinds: mps2-an386, netduinoplus2"), std::string::npos)
      << unknown.error_message();
  EXPECT_EQ(response.measurements_size(), 0);

  // A registered kind, named or the default, is queued.
  grpc::Status named = Measure("netduinoplus2", &response);
  ASSERT_TRUE(named.ok()) << named.error_message();
  ASSERT_EQ(response.measurements_size(), 1);
  EXPECT_EQ(response.measurements(0).state(), "QUEUED");
  v1::MeasureResponse by_default;
  ASSERT_TRUE(Measure("", &by_default).ok());
  ASSERT_EQ(by_default.measurements_size(), 1);
  EXPECT_EQ(by_default.measurements(0).board_kind(), "mps2-an386");
}

TEST_F(MeasurementApiTest, QueuedMeasurementIsCancelledAndNeverLeased) {
  const std::string device = RegisterBoard("bench-1", "mps2-an386");
  v1::MeasureResponse queued;
  ASSERT_TRUE(Measure("mps2-an386", &queued).ok());
  ASSERT_EQ(queued.measurements_size(), 1);
  const std::string id = queued.measurements(0).id();

  v1::Measurement cancelled;
  grpc::Status status = Cancel(id, &cancelled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cancelled.id(), id);
  EXPECT_EQ(cancelled.state(), "CANCELLED");
  EXPECT_EQ(cancelled.error(), "cancelled before it ran");
  EXPECT_EQ(Reported(id).state(), "CANCELLED");

  v1::LeaseMeasurementResponse leased;
  ASSERT_TRUE(Lease(device, &leased).ok());
  EXPECT_FALSE(leased.has_measurement()) << leased.measurement().id();

  // The state is stored: a new server reports it and leases nothing either.
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  const v1::Measurement after_restart = Reported(id);
  EXPECT_EQ(after_restart.state(), "CANCELLED");
  EXPECT_EQ(after_restart.error(), "cancelled before it ran");
  ASSERT_TRUE(Lease(device, &leased).ok());
  EXPECT_FALSE(leased.has_measurement()) << leased.measurement().id();

  grpc::Status again = Cancel(id, &cancelled);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(again.error_message().find("is CANCELLED"), std::string::npos) << again.error_message();
  EXPECT_EQ(Cancel("m-nosuchthing", &cancelled).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Cancel("", &cancelled).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MeasurementApiTest, RunningMeasurementIsCancelledAndItsAgentHearsOfIt) {
  const std::string device = RegisterBoard("bench-1", "mps2-an386");
  v1::MeasureResponse queued;
  ASSERT_TRUE(Measure("mps2-an386", &queued).ok());
  v1::LeaseMeasurementResponse leased;
  ASSERT_TRUE(Lease(device, &leased).ok());
  ASSERT_TRUE(leased.has_measurement());
  const std::string id = leased.measurement().id();

  v1::Measurement cancelled;
  ASSERT_TRUE(Cancel(id, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), "CANCELLED");
  EXPECT_EQ(cancelled.error(), "cancelled while it ran on " + device);
  EXPECT_EQ(cancelled.device_id(), device);  // the record of where it ran

  // The agent's next heartbeat says the lease is gone; its result is refused.
  v1::HeartbeatMeasurementRequest beat;
  beat.set_measurement_id(id);
  beat.set_lease_id(leased.lease_id());
  v1::HeartbeatResponse heard;
  ASSERT_TRUE(workers_->HeartbeatMeasurement(Context().get(), beat, &heard).ok());
  EXPECT_TRUE(heard.lease_lost()) << heard.DebugString();
  v1::CompleteMeasurementRequest complete;
  complete.set_measurement_id(id);
  complete.set_lease_id(leased.lease_id());
  complete.mutable_result()->set_timing_model("qemu icount shift=0, virtual (instruction-count model)");
  v1::CompleteJobResponse ignored;
  EXPECT_EQ(workers_->CompleteMeasurement(Context().get(), complete, &ignored).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reported(id).state(), "CANCELLED");

  // A new server on the same data: still CANCELLED, the lease still lost,
  // the late result still refused, and nothing to lease.
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  EXPECT_EQ(Reported(id).state(), "CANCELLED");
  heard.Clear();
  ASSERT_TRUE(workers_->HeartbeatMeasurement(Context().get(), beat, &heard).ok());
  EXPECT_TRUE(heard.lease_lost()) << heard.DebugString();
  EXPECT_EQ(workers_->CompleteMeasurement(Context().get(), complete, &ignored).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reported(id).state(), "CANCELLED");
  ASSERT_TRUE(Lease(device, &leased).ok());
  EXPECT_FALSE(leased.has_measurement()) << leased.measurement().id();
}

TEST_F(MeasurementApiTest, SubmittingMeasureOnAnUnregisteredKindWarnsNamingTheRegisteredOnes) {
  RegisterBoard("board-1", "mps2-an386");
  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallSpec("measure-on-warning");
  request.mutable_spec()->add_measure_on("mps2-an386");
  request.mutable_spec()->add_measure_on("nucleo-f446re");
  v1::SubmitJobResponse response;
  const grpc::Status status = experiments_->SubmitJob(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.warnings_size(), 1);
  EXPECT_NE(response.warnings(0).find("no agent has registered a nucleo-f446re board (registered kinds: mps2-an386)"),
            std::string::npos)
      << response.warnings(0);
  EXPECT_NE(response.warnings(0).find("--measurement-queue-timeout"), std::string::npos) << response.warnings(0);
}

// A server whose measurements wait 1 s for an agent of their board kind.
class MeasurementQueueTimeoutTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    options_.measurement_queue_timeout_ms = 1000;
    StartServer();
  }
};

TEST_F(MeasurementQueueTimeoutTest, AMeasurementNoAgentCanTakeFailsAfterTheTimeoutSayingWhy) {
  v1::RegisterDeviceRequest board;
  board.mutable_device()->set_name("board-1");
  board.mutable_device()->set_board_kind("mps2-an386");
  board.mutable_device()->set_core("cortex-m4");
  board.mutable_device()->set_clock_hz(25'000'000);
  board.mutable_device()->set_emulated(true);
  v1::RegisterDeviceResponse registered;
  ASSERT_TRUE(workers_->RegisterDevice(Context().get(), board, &registered).ok());
  v1::JobSpec spec = SmallSpec("queue-timeout");
  spec.add_measure_on("mps2-an386");
  spec.add_measure_on("nucleo-f446re");
  const std::string model(1000, 'm');
  const std::string job_id = SucceededJobWithQatModel(spec, model, model.size());

  v1::GetResultsRequest request;
  request.set_id(job_id);
  v1::GetResultsResponse results;
  auto state_of = [&](const std::string& kind) {
    for (const v1::Measurement& m : results.measurements()) {
      if (m.board_kind() == kind) return m.state();
    }
    return std::string("absent");
  };
  ASSERT_TRUE(test_support::WaitUntil(
      [&] {
        results.Clear();
        return experiments_->GetResults(Context().get(), request, &results).ok() &&
               state_of("nucleo-f446re") == "FAILED";
      },
      std::chrono::milliseconds(15000), "the nucleo-f446re measurement to fail"))
      << state_of("nucleo-f446re");
  for (const v1::Measurement& m : results.measurements()) {
    if (m.board_kind() != "nucleo-f446re") continue;
    EXPECT_NE(m.error().find("no agent registered a nucleo-f446re board within 1 s"), std::string::npos) << m.error();
  }
  // A kind some agent registered keeps waiting for it.
  EXPECT_EQ(state_of("mps2-an386"), "QUEUED");
}

}  // namespace
}  // namespace qatlab::server
