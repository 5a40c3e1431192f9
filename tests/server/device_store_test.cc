// The device and measurement store against a real SQLite file: jobs come from
// the real JobStore (submitted, leased, artifacts recorded, completed; wired to
// DeviceStore::QueueMeasureOn as the server wires it), time from a ManualClock
// so lease expiry is exercised without sleeping.
#include "server/store/device_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "server/store/catalogue.h"
#include "server/store/database.h"
#include "server/store/job_notifier.h"
#include "server/store/job_store.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;
constexpr int64_t kLeaseMs = 10'000;

class DeviceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db_path = dir_.File("qatlab.db");
    JobStoreOptions job_options;
    job_options.on_success = [this](Transaction& transaction, int64_t job_seq, const v1::Job& job) {
      return devices_->QueueMeasureOn(transaction, job_seq, job);
    };
    StatusOr<std::unique_ptr<JobStore>> jobs = JobStore::Open(db_path, clock_, notifier_, std::move(job_options));
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    jobs_ = std::move(*jobs);
    StatusOr<std::unique_ptr<Catalogue>> catalogue = Catalogue::Open(db_path, clock_);
    ASSERT_TRUE(catalogue.ok()) << catalogue.status().ToString();
    catalogue_ = std::move(*catalogue);
    OpenDevices();
  }
  // Opens the device store; again: as a restarted server would.
  void OpenDevices() {
    devices_.reset();
    DeviceStoreOptions options;
    options.lease_ms = kLeaseMs;
    options.online_window_ms = 20'000;
    options.max_attempts = 2;
    StatusOr<std::unique_ptr<DeviceStore>> devices = DeviceStore::Open(dir_.File("qatlab.db"), clock_, options);
    ASSERT_TRUE(devices.ok()) << devices.status().ToString();
    devices_ = std::move(*devices);
  }
  void TearDown() override {
    devices_.reset();
    jobs_.reset();
  }

  // A job that ran to SUCCEEDED with a float variant and the given quantized
  // variants, each with its <name>.qmodel artifact unless listed in `no_artifact`.
  std::string FinishedJob(const std::vector<std::string>& quantized, const std::vector<std::string>& measure_on = {},
                          const std::set<std::string>& no_artifact = {}) {
    RunningJob job = RanJob(quantized, measure_on, no_artifact);
    EXPECT_TRUE(jobs_->Complete(job.id, {job.lease_id, ""}, job.result).ok());
    return job.id;
  }

  // The same job, still RUNNING: its artifacts uploaded, its result not yet.
  struct RunningJob {
    std::string id;
    std::string lease_id;
    v1::JobResult result;
  };
  RunningJob RanJob(const std::vector<std::string>& quantized, const std::vector<std::string>& measure_on = {},
                    const std::set<std::string>& no_artifact = {}) {
    v1::JobSpec spec;
    spec.set_experiment("device-store-test");
    spec.set_max_attempts(1);
    for (const std::string& kind : measure_on) spec.add_measure_on(kind);
    StatusOr<v1::Job> job = jobs_->Submit(spec, "");
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    StatusOr<std::optional<JobLease>> lease = jobs_->LeaseNext("worker-1", "");
    EXPECT_TRUE(lease.ok() && lease->has_value());
    v1::JobResult result;
    result.set_experiment("device-store-test");
    v1::VariantResult* float_variant = result.add_variants();
    float_variant->set_name("float");
    float_variant->set_kind("float");
    for (size_t i = 0; i < quantized.size(); ++i) {
      v1::VariantResult* v = result.add_variants();
      v->set_name(quantized[i]);
      v->set_kind(quantized[i].rfind("ptq", 0) == 0 ? "ptq" : "qat");
      if (no_artifact.count(quantized[i]) != 0) continue;
      const std::string sha = std::string(63, 'a') + static_cast<char>('0' + i);
      StatusOr<v1::Artifact> artifact =
          catalogue_->RecordArtifact(job->id(), {(*lease)->lease_id, ""}, quantized[i] + ".qmodel", sha, 1000);
      EXPECT_TRUE(artifact.ok()) << artifact.status().ToString();
    }
    return {job->id(), (*lease)->lease_id, result};
  }

  // Makes every later INSERT INTO measurements fail, as a full disk would,
  // through a connection of its own (the stores' connections see it at once).
  void BreakMeasurementInserts() {
    StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.File("qatlab.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)
                    ->Exec("CREATE TRIGGER break_measurements BEFORE INSERT ON measurements "
                           "BEGIN SELECT RAISE(ABORT, 'injected: measurements cannot be written'); END")
                    .ok());
  }
  void RepairMeasurementInserts() {
    StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.File("qatlab.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("DROP TRIGGER break_measurements").ok());
  }

  v1::Device Board(const std::string& name, const std::string& kind = "mps2-an386") {
    v1::Device device;
    device.set_name(name);
    device.set_board_kind(kind);
    device.set_core("cortex-m4");
    device.set_clock_hz(25'000'000);
    device.set_flash_bytes(4 << 20);
    device.set_ram_bytes(4 << 20);
    device.set_firmware_version("0.1.0");
    device.set_kernel_variant("reference");
    device.set_emulated(true);
    return device;
  }

  std::string Register(const std::string& name, const std::string& kind = "mps2-an386") {
    StatusOr<v1::Device> device = devices_->Register(Board(name, kind));
    EXPECT_TRUE(device.ok()) << device.status().ToString();
    return device.ok() ? device->id() : "";
  }

  MeasurementLease Lease(const std::string& device_id) {
    StatusOr<std::optional<MeasurementLease>> lease = devices_->LeaseNext(device_id, "");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    EXPECT_TRUE(lease.ok() && lease->has_value()) << "nothing leased for " << device_id;
    return lease.ok() && lease->has_value() ? **lease : MeasurementLease{};
  }

  bool NothingToLease(const std::string& device_id) {
    StatusOr<std::optional<MeasurementLease>> lease = devices_->LeaseNext(device_id, "");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    return lease.ok() && !lease->has_value();
  }

  static v1::MeasurementResult Result(uint64_t median_cycles) {
    v1::MeasurementResult result;
    result.set_emulated(true);
    result.set_median_cycles(median_cycles);
    result.set_median_us(median_cycles / 25.0);
    result.set_checked_inputs(10);
    result.set_bit_exact_inputs(10);
    v1::LayerCycles* layer = result.add_layers();
    layer->set_index(0);
    layer->set_op("dense");
    layer->set_cycles(median_cycles);
    return result;
  }

  test_support::TempDir dir_;
  ManualClock clock_{kStart};
  JobNotifier notifier_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<Catalogue> catalogue_;
  std::unique_ptr<DeviceStore> devices_;
};

TEST_F(DeviceStoreTest, RegisteringTheSameNameAgainKeepsTheIdAndUpdatesTheInfo) {
  StatusOr<v1::Device> first = devices_->Register(Board("bench-1"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->id().rfind("d-", 0), 0u);
  EXPECT_EQ(first->state(), "ONLINE");
  EXPECT_EQ(first->last_seen_unix_ms(), kStart);

  clock_.Advance(5'000);
  v1::Device updated = Board("bench-1");
  updated.set_firmware_version("0.2.0");
  updated.set_clock_hz(100'000'000);
  StatusOr<v1::Device> second = devices_->Register(updated);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->id(), first->id());
  EXPECT_EQ(second->firmware_version(), "0.2.0");
  EXPECT_EQ(second->clock_hz(), 100'000'000u);
  EXPECT_EQ(second->last_seen_unix_ms(), kStart + 5'000);

  StatusOr<v1::Device> other = devices_->Register(Board("bench-2"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id(), first->id());
  StatusOr<std::vector<v1::Device>> all = devices_->ListDevices();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "bench-1");
  EXPECT_EQ((*all)[0].firmware_version(), "0.2.0");
}

TEST_F(DeviceStoreTest, RegistrationWithoutNameOrKindIsRefused) {
  v1::Device nameless = Board("");
  EXPECT_EQ(devices_->Register(nameless).status().code(), StatusCode::kInvalidArgument);
  v1::Device kindless = Board("bench-1", "");
  StatusOr<v1::Device> refused = devices_->Register(kindless);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("board_kind"), std::string::npos) << refused.status().message();
}

TEST_F(DeviceStoreTest, DeviceGoesOfflineWhenNotHeardFromAndBusyWhileMeasuring) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease lease = Lease(device);
  EXPECT_EQ(devices_->GetDevice(device)->state(), "BUSY");
  ASSERT_TRUE(devices_->Complete(lease.measurement.id(), {lease.lease_id, ""}, Result(1000)).ok());
  EXPECT_EQ(devices_->GetDevice(device)->state(), "ONLINE");
  clock_.Advance(20'001);
  EXPECT_EQ(devices_->GetDevice(device)->state(), "OFFLINE");
  EXPECT_TRUE(NothingToLease(device));  // polling is hearing from it
  EXPECT_EQ(devices_->GetDevice(device)->state(), "ONLINE");
}

TEST_F(DeviceStoreTest, MeasureQueuesEveryQuantizedVariantWithAnArtifact) {
  const std::string job = FinishedJob({"ptq_w8a8", "qat_w8a8", "qat_w4a8"}, {}, {"qat_w4a8"});
  StatusOr<std::vector<v1::Measurement>> queued = devices_->Queue({job, "", "", ""});
  ASSERT_TRUE(queued.ok()) << queued.status().ToString();
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ((*queued)[0].variant(), "ptq_w8a8");
  EXPECT_EQ((*queued)[1].variant(), "qat_w8a8");
  for (const v1::Measurement& m : *queued) {
    EXPECT_EQ(m.board_kind(), kDefaultBoardKind);
    EXPECT_EQ(m.state(), "QUEUED");
    EXPECT_EQ(m.job_id(), job);
  }
  StatusOr<std::vector<v1::Measurement>> listed = devices_->ListMeasurements(job);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id(), (*queued)[0].id());

  StatusOr<std::vector<v1::Measurement>> one = devices_->Queue({job, "qat_w8a8", "netduinoplus2", ""});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].board_kind(), "netduinoplus2");
}

TEST_F(DeviceStoreTest, MeasureRefusesWhatCannotRun) {
  const std::string job = FinishedJob({"qat_w8a8", "qat_w4a8"}, {}, {"qat_w4a8"});
  EXPECT_EQ(devices_->Queue({"j-nosuchjob", "", "", ""}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(devices_->Queue({job, "qat_w2a8", "", ""}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(devices_->Queue({job, "float", "", ""}).status().code(), StatusCode::kInvalidArgument);
  StatusOr<std::vector<v1::Measurement>> no_artifact = devices_->Queue({job, "qat_w4a8", "", ""});
  EXPECT_EQ(no_artifact.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_artifact.status().message().find("qat_w4a8.qmodel"), std::string::npos);
  EXPECT_EQ(devices_->Queue({job, "", "", "d-nosuchdevice"}).status().code(), StatusCode::kNotFound);
  const std::string netduino = Register("netduino-1", "netduinoplus2");
  EXPECT_EQ(devices_->Queue({job, "", "mps2-an386", netduino}).status().code(), StatusCode::kInvalidArgument);

  v1::JobSpec spec;
  spec.set_max_attempts(1);
  StatusOr<v1::Job> queued_job = jobs_->Submit(spec, "");
  ASSERT_TRUE(queued_job.ok());
  StatusOr<std::vector<v1::Measurement>> too_early = devices_->Queue({queued_job->id(), "", "", ""});
  EXPECT_EQ(too_early.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(too_early.status().message().find("QUEUED"), std::string::npos) << too_early.status().message();
}

// spec.measure_on is honoured by the job's completion itself: when Complete
// returns, the job is SUCCEEDED and its measurements are queued, with no
// second call that a crash could miss.
TEST_F(DeviceStoreTest, CompletingAMeasureOnJobQueuesItsMeasurementsWithIt) {
  const uint64_t seen = devices_->QueueGeneration();
  RunningJob ran = RanJob({"ptq_w8a8", "qat_w8a8", "qat_w4a8"}, {"mps2-an386", "netduinoplus2"}, {"qat_w4a8"});
  ASSERT_TRUE(jobs_->Complete(ran.id, {ran.lease_id, ""}, ran.result).ok());

  EXPECT_EQ(jobs_->Get(ran.id)->state(), v1::SUCCEEDED);
  StatusOr<std::vector<v1::Measurement>> queued = devices_->ListMeasurements(ran.id);
  ASSERT_TRUE(queued.ok()) << queued.status().ToString();
  std::set<std::pair<std::string, std::string>> what;
  for (const v1::Measurement& m : *queued) {
    EXPECT_EQ(m.state(), "QUEUED");
    what.insert({m.variant(), m.board_kind()});
  }
  EXPECT_EQ(queued->size(), 4u);  // the variant without a .qmodel is not measured
  EXPECT_EQ(what, (std::set<std::pair<std::string, std::string>>{{"ptq_w8a8", "mps2-an386"},
                                                                 {"ptq_w8a8", "netduinoplus2"},
                                                                 {"qat_w8a8", "mps2-an386"},
                                                                 {"qat_w8a8", "netduinoplus2"}}));
  EXPECT_TRUE(devices_->WaitForQueueChange(seen, std::chrono::milliseconds(0)));  // agents were woken

  const std::string plain = FinishedJob({"qat_w8a8"});
  EXPECT_TRUE(devices_->ListMeasurements(plain)->empty());
}

// The invariant the single transaction buys: a SUCCEEDED job with measure_on
// always has its measurements. When they cannot be stored the job does not
// succeed either; its worker's lease still holds, and completing again works.
TEST_F(DeviceStoreTest, MeasurementsThatCannotBeQueuedRollTheJobsCompletionBack) {
  RunningJob ran = RanJob({"qat_w8a8"}, {"mps2-an386"});
  const uint64_t seen = devices_->QueueGeneration();
  BreakMeasurementInserts();

  Status completed = jobs_->Complete(ran.id, {ran.lease_id, ""}, ran.result);
  EXPECT_FALSE(completed.ok());
  EXPECT_NE(completed.message().find("injected"), std::string::npos) << completed.ToString();
  EXPECT_EQ(jobs_->Get(ran.id)->state(), v1::RUNNING);
  EXPECT_EQ(jobs_->GetResult(ran.id).status().code(), StatusCode::kFailedPrecondition);  // no result rows either
  EXPECT_TRUE(devices_->ListMeasurements(ran.id)->empty());
  EXPECT_FALSE(devices_->WaitForQueueChange(seen, std::chrono::milliseconds(0)));  // nobody woken for nothing

  RepairMeasurementInserts();
  ASSERT_TRUE(jobs_->Complete(ran.id, {ran.lease_id, ""}, ran.result).ok());
  EXPECT_EQ(jobs_->Get(ran.id)->state(), v1::SUCCEEDED);
  EXPECT_EQ(devices_->ListMeasurements(ran.id)->size(), 1u);
}

TEST_F(DeviceStoreTest, LeaseMatchesBoardKindAndRequestedDevice) {
  const std::string mps2_a = Register("mps2-a");
  const std::string mps2_b = Register("mps2-b");
  const std::string netduino = Register("netduino", "netduinoplus2");
  const std::string job = FinishedJob({"qat_w8a8"});
  StatusOr<std::vector<v1::Measurement>> for_b = devices_->Queue({job, "", "", mps2_b});
  ASSERT_TRUE(for_b.ok()) << for_b.status().ToString();
  EXPECT_EQ((*for_b)[0].board_kind(), "mps2-an386");  // taken from the device

  EXPECT_TRUE(NothingToLease(netduino));
  EXPECT_TRUE(NothingToLease(mps2_a));
  MeasurementLease lease = Lease(mps2_b);
  EXPECT_EQ(lease.measurement.id(), (*for_b)[0].id());
  EXPECT_EQ(lease.measurement.state(), "RUNNING");
  EXPECT_EQ(lease.measurement.attempt(), 1);
  EXPECT_EQ(lease.measurement.device_id(), mps2_b);
  EXPECT_EQ(lease.deadline_unix_ms, kStart + kLeaseMs);

  ASSERT_TRUE(devices_->Queue({job, "", "netduinoplus2", ""}).ok());
  EXPECT_TRUE(NothingToLease(mps2_a));
  MeasurementLease netduino_lease = Lease(netduino);
  EXPECT_EQ(netduino_lease.measurement.board_kind(), "netduinoplus2");

  EXPECT_EQ(devices_->LeaseNext("d-unregistered", "").status().code(), StatusCode::kNotFound);
}

TEST_F(DeviceStoreTest, AMeasurementLeaseStaysBoundToTheTokenThatTookItAcrossAReopen) {
  const std::string token_a(64, 'a');
  const std::string token_b(64, 'b');
  const std::string device = Register("bench-1");
  ASSERT_TRUE(devices_->Queue({FinishedJob({"qat_w8a8"}), "", "", ""}).ok());
  StatusOr<std::optional<MeasurementLease>> leased = devices_->LeaseNext(device, token_a);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  const std::string id = (*leased)->measurement.id();
  const std::string lease_id = (*leased)->lease_id;
  OpenDevices();  // a server restart

  const LeaseClaim b{lease_id, token_b};
  EXPECT_EQ(devices_->Heartbeat(id, b).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(devices_->Complete(id, b, Result(1)).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(devices_->Fail(id, b, "forged", false).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(devices_->GetMeasurement(id)->state(), "RUNNING");

  const LeaseClaim a{lease_id, token_a};
  StatusOr<MeasurementHeartbeat> beat = devices_->Heartbeat(id, a);
  ASSERT_TRUE(beat.ok()) << beat.status().ToString();
  EXPECT_FALSE(beat->lease_lost);
  ASSERT_TRUE(devices_->Complete(id, a, Result(42)).ok());
  EXPECT_EQ(devices_->GetMeasurement(id)->state(), "SUCCEEDED");
}

TEST_F(DeviceStoreTest, ExpiredLeaseRequeuesWithTheNextAttemptThenFailsAtTheLimit) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());

  MeasurementLease first = Lease(device);
  EXPECT_EQ(first.measurement.attempt(), 1);
  clock_.Advance(kLeaseMs - 1);
  StatusOr<MeasurementHeartbeat> beat = devices_->Heartbeat(first.measurement.id(), {first.lease_id, ""});
  ASSERT_TRUE(beat.ok());
  EXPECT_FALSE(beat->lease_lost);
  EXPECT_EQ(beat->deadline_unix_ms, clock_.NowUnixMs() + kLeaseMs);
  clock_.Advance(kLeaseMs - 1);
  EXPECT_EQ(*devices_->ExpireLeases(), 0);  // the heartbeat moved the deadline
  clock_.Advance(2);
  EXPECT_EQ(*devices_->ExpireLeases(), 1);
  StatusOr<v1::Measurement> requeued = devices_->GetMeasurement(first.measurement.id());
  EXPECT_EQ(requeued->state(), "QUEUED");
  EXPECT_NE(requeued->error().find("expired"), std::string::npos) << requeued->error();
  EXPECT_TRUE(devices_->Heartbeat(first.measurement.id(), {first.lease_id, ""})->lease_lost);

  MeasurementLease second = Lease(device);
  EXPECT_EQ(second.measurement.id(), first.measurement.id());
  EXPECT_EQ(second.measurement.attempt(), 2);
  EXPECT_NE(second.lease_id, first.lease_id);
  clock_.Advance(kLeaseMs + 1);
  // No reaper call: the next poll expires the lease itself.
  EXPECT_TRUE(NothingToLease(device));
  StatusOr<v1::Measurement> failed = devices_->GetMeasurement(first.measurement.id());
  EXPECT_EQ(failed->state(), "FAILED");
  EXPECT_NE(failed->error().find("attempt 2 of 2"), std::string::npos) << failed->error();
}

// A cancel ends the measurement at once: its lease does not expire into a
// requeue or a failure afterwards, its agent can neither fail nor complete
// it, and no device leases it again, before or after a reopen.
TEST_F(DeviceStoreTest, ACancelledMeasurementStaysCancelledPastItsLeaseAndAReopen) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"ptq_w8a8", "qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease running = Lease(device);
  const std::string running_id = running.measurement.id();
  StatusOr<std::vector<v1::Measurement>> both = devices_->ListMeasurements(job);
  ASSERT_TRUE(both.ok() && both->size() == 2u);
  const std::string queued_id = (*both)[0].id() == running_id ? (*both)[1].id() : (*both)[0].id();

  ASSERT_EQ(devices_->Cancel(queued_id)->state(), "CANCELLED");
  ASSERT_EQ(devices_->Cancel(running_id)->state(), "CANCELLED");
  clock_.Advance(2 * kLeaseMs);
  EXPECT_EQ(*devices_->ExpireLeases(), 0);
  EXPECT_TRUE(devices_->Heartbeat(running_id, {running.lease_id, ""})->lease_lost);
  EXPECT_EQ(devices_->Fail(running_id, {running.lease_id, ""}, "board lost", true).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(devices_->Complete(running_id, {running.lease_id, ""}, Result(1000)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(NothingToLease(device));

  ASSERT_NO_FATAL_FAILURE(OpenDevices());
  StatusOr<std::vector<v1::Measurement>> reopened = devices_->ListMeasurements(job);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  for (const v1::Measurement& m : *reopened) EXPECT_EQ(m.state(), "CANCELLED") << m.id();
  EXPECT_EQ(devices_->GetMeasurement(running_id)->device_id(), device);
  EXPECT_TRUE(NothingToLease(device));
  EXPECT_EQ(devices_->Cancel(running_id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(DeviceStoreTest, CompleteStoresTheResultExactlyOnce) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease lease = Lease(device);
  ASSERT_TRUE(devices_->Complete(lease.measurement.id(), {lease.lease_id, ""}, Result(123'456)).ok());

  StatusOr<v1::Measurement> done = devices_->GetMeasurement(lease.measurement.id());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), "SUCCEEDED");
  EXPECT_EQ(done->device_id(), device);
  EXPECT_EQ(done->result().median_cycles(), 123'456u);
  ASSERT_EQ(done->result().layers_size(), 1);
  EXPECT_EQ(done->result().layers(0).cycles(), 123'456u);

  Status twice = devices_->Complete(lease.measurement.id(), {lease.lease_id, ""}, Result(1));
  EXPECT_EQ(twice.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(devices_->Fail(lease.measurement.id(), {lease.lease_id, ""}, "late", false).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(devices_->GetMeasurement(lease.measurement.id())->result().median_cycles(), 123'456u);
  EXPECT_EQ(devices_->GetMeasurement(lease.measurement.id())->state(), "SUCCEEDED");
  EXPECT_EQ(devices_->Complete("m-nosuchmeasure", {lease.lease_id, ""}, Result(1)).code(), StatusCode::kNotFound);
}

TEST_F(DeviceStoreTest, StaleLeaseIsRejectedAndChangesNothing) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease first = Lease(device);
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*devices_->ExpireLeases(), 1);
  MeasurementLease second = Lease(device);

  Status stale = devices_->Complete(first.measurement.id(), {first.lease_id, ""}, Result(1));
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.message().find(first.lease_id), std::string::npos) << stale.message();
  EXPECT_EQ(devices_->Fail(first.measurement.id(), {first.lease_id, ""}, "old", true).code(),
            StatusCode::kFailedPrecondition);
  StatusOr<v1::Measurement> still = devices_->GetMeasurement(first.measurement.id());
  EXPECT_EQ(still->state(), "RUNNING");
  EXPECT_EQ(still->attempt(), 2);
  EXPECT_TRUE(devices_->Complete(second.measurement.id(), {second.lease_id, ""}, Result(7)).ok());
}

TEST_F(DeviceStoreTest, RetryableFailGivesBackWithoutCountingAndFinalFailIsFinal) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease first = Lease(device);
  ASSERT_TRUE(devices_->Fail(first.measurement.id(), {first.lease_id, ""}, "board lost", true).ok());
  StatusOr<v1::Measurement> back = devices_->GetMeasurement(first.measurement.id());
  EXPECT_EQ(back->state(), "QUEUED");
  EXPECT_EQ(back->attempt(), 0);

  MeasurementLease second = Lease(device);
  EXPECT_EQ(second.measurement.attempt(), 1);
  ASSERT_TRUE(
      devices_->Fail(second.measurement.id(), {second.lease_id, ""}, "model needs 300000 bytes of RAM", false).ok());
  StatusOr<v1::Measurement> failed = devices_->GetMeasurement(second.measurement.id());
  EXPECT_EQ(failed->state(), "FAILED");
  EXPECT_EQ(failed->error(), "model needs 300000 bytes of RAM");
  EXPECT_TRUE(NothingToLease(device));
}

TEST_F(DeviceStoreTest, LongPollWakesWhenWorkIsQueued) {
  const uint64_t seen = devices_->QueueGeneration();
  EXPECT_FALSE(devices_->WaitForQueueChange(seen, std::chrono::milliseconds(10)));
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  EXPECT_TRUE(devices_->WaitForQueueChange(seen, std::chrono::milliseconds(0)));
  devices_->Shutdown();
  EXPECT_FALSE(devices_->WaitForQueueChange(devices_->QueueGeneration(), std::chrono::seconds(5)));
}

TEST_F(DeviceStoreTest, MeasurementsSurviveReopening) {
  const std::string device = Register("bench-1");
  const std::string job = FinishedJob({"qat_w8a8"});
  ASSERT_TRUE(devices_->Queue({job, "", "", ""}).ok());
  MeasurementLease lease = Lease(device);
  ASSERT_TRUE(devices_->Complete(lease.measurement.id(), {lease.lease_id, ""}, Result(42)).ok());
  devices_.reset();
  StatusOr<std::unique_ptr<DeviceStore>> reopened = DeviceStore::Open(dir_.File("qatlab.db"), clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  StatusOr<std::vector<v1::Measurement>> listed = (*reopened)->ListMeasurements(job);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].result().median_cycles(), 42u);
  EXPECT_EQ((*reopened)->GetDevice(device)->name(), "bench-1");
}

}  // namespace
}  // namespace qatlab::server
