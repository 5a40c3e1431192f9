// End to end, with real processes only: qatlab-server on a free loopback port
// with a temporary data directory and one local qatlab-worker, qatlab-agent
// running the built firmware in QEMU, qatctl for the user's view.
//
// The story: a tiny training job asks to be measured on mps2-an386. It
// trains, and its quantized variants are measured on the emulated board: the
// board's outputs match the host's bit for bit, latency and per-layer cycles
// are stored and come back with the job's results. Half-way through, the
// emulator is killed: the agent brings up a new one and every measurement
// still completes exactly once. Finally SIGTERM stops the agent and its
// emulator.
#include <dirent.h>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab_firmware_paths.h"
#include "tests/client/running_service.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {
namespace {

using test_support::LoggedChild;
using test_support::WaitUntil;

// The pids of the running processes whose parent is `parent` and whose
// command name is `name` (from /proc/<pid>/stat).
std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& name) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    std::ifstream stat_file(fmt::format("/proc/{}/stat", pid));
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // pid (comm) state ppid ...; comm may hold spaces, so split at the last ')'.
    const size_t open = stat.find('(');
    const size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != "Z" && stat.substr(open + 1, close - open - 1) == name) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

// The first job id ("j-" and 12 base32 characters) in `text`, or "".
std::string FirstJobId(const std::string& text) {
  for (size_t at = text.find("j-"); at != std::string::npos; at = text.find("j-", at + 1)) {
    std::string candidate = text.substr(at, 14);
    if (candidate.size() == 14 &&
        candidate.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 2) == std::string::npos) {
      return candidate;
    }
  }
  return "";
}

class AgentEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_regular_file(QATLAB_FIRMWARE_MPS2_AN386)) {
      GTEST_SKIP() << "no firmware at " << QATLAB_FIRMWARE_MPS2_AN386 << " (QATLAB_BUILD_FIRMWARE=OFF?)";
    }
    ServiceOptions options;
    options.local_workers = 1;
    options.lease_seconds = 5;
    service_ = std::make_unique<RunningService>(options);
    ASSERT_TRUE(service_->StartServer());
    experiments_ =
        v1::ExperimentService::NewStub(grpc::CreateChannel(service_->address(), grpc::InsecureChannelCredentials()));
  }

  void StartAgent() {
    agent_log_ = service_->work_dir() + "/agent.log";
    StatusOr<std::unique_ptr<LoggedChild>> agent = LoggedChild::Start(
        {QATLAB_AGENT_BINARY, "--server", service_->address(), "--name", "e2e-board", "--firmware",
         QATLAB_FIRMWARE_MPS2_AN386, "--lease-wait-ms", "1000", "--check-inputs", "20", "--accuracy-samples", "20",
         "--warmup", "2", "--windows", "3", "--inferences-per-window", "5"},
        agent_log_, {{"QATLAB_TOKEN", ""}});
    ASSERT_TRUE(agent.ok()) << agent.status().ToString();
    agent_ = std::move(*agent);
  }

  std::string Logs() const {
    return service_->Logs() + "\n--- agent ---\n" + (agent_ != nullptr ? agent_->Log() : std::string());
  }

  std::vector<v1::Device> ListDevices() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListDevicesResponse response;
    grpc::Status status = experiments_->ListDevices(&context, v1::ListDevicesRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.devices().begin(), response.devices().end()};
  }

  // Waits (bounded) until the agent's board is registered.
  std::vector<v1::Device> WaitForDevice() {
    std::vector<v1::Device> devices;
    EXPECT_TRUE(WaitUntil(
        [&] {
          devices = ListDevices();
          return !devices.empty();
        },
        std::chrono::seconds(30), "the agent's board to register"));
    return devices;
  }

  // Waits (bounded) until the agent's log holds `text`.
  ::testing::AssertionResult WaitForAgentLog(const std::string& text, std::chrono::milliseconds timeout) {
    return WaitUntil([&] { return agent_->Log().find(text) != std::string::npos; }, timeout,
                     "\"" + text + "\" in the agent's log");
  }

  // Waits (bounded) until the job has measurements and all of them satisfy
  // `done`; returns the last ones seen.
  std::vector<v1::Measurement> WaitForMeasurements(const std::string& job_id,
                                                   const std::function<bool(const v1::Measurement&)>& done,
                                                   std::chrono::milliseconds timeout, const std::string& what) {
    std::vector<v1::Measurement> measurements;
    EXPECT_TRUE(WaitUntil(
        [&] {
          measurements = Measurements(job_id);
          return !measurements.empty() && std::all_of(measurements.begin(), measurements.end(), done);
        },
        timeout, "the measurements of " + job_id + " to be " + what))
        << Logs();
    return measurements;
  }

  // Submits the job file `json` with qatctl and waits (bounded) until it ends.
  std::optional<v1::Job> RunJob(const std::string& json) {
    const CapturedRun submitted = service_->Qatctl({"submit", service_->WriteFile("job.json", json)});
    EXPECT_EQ(submitted.exit_status, 0) << submitted.err << Logs();
    const std::string job_id = FirstJobId(submitted.out);
    EXPECT_FALSE(job_id.empty()) << submitted.out;
    if (job_id.empty()) return std::nullopt;
    return service_->WaitForJob(
        job_id, [](const v1::Job& j) { return IsFinal(j); }, std::chrono::seconds(120), "the job to finish");
  }

  std::vector<v1::Measurement> Measurements(const std::string& job_id) {
    std::optional<v1::GetResultsResponse> results = service_->GetResults(job_id);
    if (!results.has_value()) return {};
    return {results->measurements().begin(), results->measurements().end()};
  }

  std::unique_ptr<RunningService> service_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::unique_ptr<LoggedChild> agent_;
  std::string agent_log_;
};

TEST_F(AgentEndToEndTest, TrainedModelsAreMeasuredOnTheEmulatedBoardExactlyOnceThoughTheEmulatorDies) {
  StartAgent();
  // The board registers with what it reports about itself.
  const std::vector<v1::Device> devices = WaitForDevice();
  ASSERT_EQ(devices.size(), 1u) << Logs();
  EXPECT_EQ(devices[0].name(), "e2e-board");
  EXPECT_EQ(devices[0].board_kind(), "mps2-an386");
  EXPECT_EQ(devices[0].core(), "cortex-m4");
  EXPECT_TRUE(devices[0].emulated());
  EXPECT_GT(devices[0].ram_bytes(), 0);
  EXPECT_FALSE(devices[0].firmware_version().empty());
  EXPECT_EQ(devices[0].state(), "ONLINE");
  const CapturedRun listed = service_->Qatctl({"devices"});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_NE(listed.out.find("e2e-board"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("ONLINE"), std::string::npos) << listed.out;

  // A tiny job that asks for its models to be measured on the board kind.
  std::optional<v1::Job> job = RunJob(R"({
  "experiment": "agent-e2e",
  "model": {"preset": "cnn"},
  "data": {"source": "mnist", "trainLimit": 300, "testLimit": 100},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "configs": [{"weightBits": 8, "activationBits": 8}],
  "measureOn": ["mps2-an386"]
})");
  ASSERT_TRUE(job.has_value());
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << Logs();
  const std::string job_id = job->id();

  // The emulator dies while the first measurement runs on it: killed as soon
  // as the run has begun, so that it cannot finish first.
  ASSERT_TRUE(WaitForAgentLog(": run 1 on the board", std::chrono::seconds(30))) << Logs();
  const std::vector<pid_t> emulators = ChildrenNamed(agent_->pid(), "qemu-system-arm");
  ASSERT_EQ(emulators.size(), 1u) << Logs();
  ASSERT_EQ(::kill(emulators[0], SIGKILL), 0);

  // Every quantized variant is measured, once.
  const std::vector<v1::Measurement> measurements = WaitForMeasurements(
      job_id, [](const v1::Measurement& m) { return m.state() == "SUCCEEDED" || m.state() == "FAILED"; },
      std::chrono::seconds(90), "finished");
  ASSERT_EQ(measurements.size(), 2u) << Logs();  // ptq_w8a8 and qat_w8a8
  std::set<std::string> variants;
  for (const v1::Measurement& m : measurements) {
    SCOPED_TRACE(m.variant());
    variants.insert(m.variant());
    EXPECT_EQ(m.state(), "SUCCEEDED") << m.error();
    EXPECT_EQ(m.board_kind(), "mps2-an386");
    EXPECT_EQ(m.device_id(), devices[0].id());
    EXPECT_EQ(m.attempt(), 1);  // the lost run was repeated under the same lease
    const v1::MeasurementResult& r = m.result();
    EXPECT_TRUE(r.emulated());
    EXPECT_FALSE(r.timing_model().empty());
    EXPECT_EQ(r.checked_inputs(), 20);
    EXPECT_EQ(r.bit_exact_inputs(), r.checked_inputs());
    EXPECT_GT(r.median_cycles(), 0u);
    EXPECT_LE(r.min_cycles(), r.median_cycles());
    EXPECT_GE(r.max_cycles(), r.median_cycles());
    EXPECT_GT(r.median_us(), 0.0);
    EXPECT_EQ(r.windows(), 3);
    ASSERT_GT(r.layers_size(), 0);
    uint64_t layer_cycles = 0;
    for (const v1::LayerCycles& layer : r.layers()) layer_cycles += layer.cycles();
    EXPECT_GT(layer_cycles, 0u);
    EXPECT_GT(r.flash_bytes(), 0);
    EXPECT_GT(r.arena_bytes(), 0);
  }
  EXPECT_EQ(variants, (std::set<std::string>{"ptq_w8a8", "qat_w8a8"}));
  const std::string agent_log = agent_->Log();
  EXPECT_NE(agent_log.find("the board was lost during run 1"), std::string::npos) << agent_log;
  EXPECT_NE(agent_log.find(": run 2 on the board"), std::string::npos) << agent_log;
  // mps2-an386 has a model slot: each model was programmed into it and
  // measured from there, bit-exact (above).
  EXPECT_NE(agent_log.find("the model is in the board's slot as q"), std::string::npos) << agent_log;
  const std::vector<pid_t> restarted = ChildrenNamed(agent_->pid(), "qemu-system-arm");
  ASSERT_EQ(restarted.size(), 1u) << agent_log;
  EXPECT_NE(restarted[0], emulators[0]);

  // The user sees latency beside accuracy and size.
  const CapturedRun compared = service_->Qatctl({"--json", "compare", job_id});
  EXPECT_EQ(compared.exit_status, 0) << compared.err;
  EXPECT_NE(compared.out.find(std::to_string(measurements[0].result().median_cycles())), std::string::npos)
      << compared.out;

  // SIGTERM: the agent stops its emulator and exits 0.
  agent_->Signal(SIGTERM);
  std::optional<int> exit_status = agent_->WaitFor(std::chrono::seconds(15));
  ASSERT_TRUE(exit_status.has_value()) << "the agent did not stop\n" << agent_->Log();
  EXPECT_EQ(*exit_status, 0) << agent_->Log();
  EXPECT_EQ(::kill(restarted[0], 0), -1) << "QEMU outlived the agent";
}

TEST_F(AgentEndToEndTest, ModelLargerThanTheBoardIsRefusedWithTheReasonNotAttempted) {
  StartAgent();
  ASSERT_EQ(WaitForDevice().size(), 1u) << Logs();
  // 784 x 384 int8 weights alone exceed the emulated board's 256 KiB model buffer.
  std::optional<v1::Job> job = RunJob(R"({
  "experiment": "agent-e2e-too-big",
  "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 384}, {"type": "relu"},
                       {"type": "dense", "units": 10}]},
  "data": {"source": "mnist", "trainLimit": 200, "testLimit": 50},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "skipPtq": true,
  "configs": [{"weightBits": 8, "activationBits": 8}]
})");
  ASSERT_TRUE(job.has_value());
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << Logs();

  const CapturedRun queued = service_->Qatctl({"measure", job->id(), "--variant", "qat_w8a8"});
  ASSERT_EQ(queued.exit_status, 0) << queued.err << Logs();
  EXPECT_NE(queued.out.find("qat_w8a8"), std::string::npos) << queued.out;

  const std::vector<v1::Measurement> measurements = WaitForMeasurements(
      job->id(), [](const v1::Measurement& m) { return m.state() == "FAILED"; }, std::chrono::seconds(60), "failed");
  ASSERT_EQ(measurements.size(), 1u) << Logs();
  const v1::Measurement& m = measurements[0];
  ASSERT_EQ(m.state(), "FAILED") << Logs();
  EXPECT_EQ(m.attempt(), 1);  // not retryable: failed on the first lease
  EXPECT_NE(m.error().find("does not fit"), std::string::npos) << m.error();
  EXPECT_NE(m.error().find("262144"), std::string::npos) << m.error();  // the model buffer it exceeds
  EXPECT_FALSE(m.has_result());
  EXPECT_EQ(agent_->Log().find(m.id() + ": run 1 on the board"), std::string::npos) << "the model was attempted";
}

TEST_F(AgentEndToEndTest, SigtermGivesTheMeasurementBackAndAnotherAgentFinishesIt) {
  StartAgent();
  ASSERT_EQ(WaitForDevice().size(), 1u) << Logs();
  std::optional<v1::Job> job = RunJob(R"({
  "experiment": "agent-e2e-sigterm",
  "model": {"preset": "cnn"},
  "data": {"source": "mnist", "trainLimit": 200, "testLimit": 50},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "skipPtq": true,
  "configs": [{"weightBits": 8, "activationBits": 8}],
  "measureOn": ["mps2-an386"]
})");
  ASSERT_TRUE(job.has_value());
  ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << Logs();

  ASSERT_TRUE(WaitForAgentLog(": run 1 on the board", std::chrono::seconds(30))) << Logs();
  const std::vector<pid_t> emulators = ChildrenNamed(agent_->pid(), "qemu-system-arm");
  ASSERT_EQ(emulators.size(), 1u) << Logs();
  agent_->Signal(SIGTERM);
  std::optional<int> exit_status = agent_->WaitFor(std::chrono::seconds(15));
  ASSERT_TRUE(exit_status.has_value()) << "the agent did not stop\n" << agent_->Log();
  EXPECT_EQ(*exit_status, 0) << agent_->Log();
  EXPECT_EQ(::kill(emulators[0], 0), -1) << "QEMU outlived the agent";

  std::vector<v1::Measurement> measurements = Measurements(job->id());
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_EQ(measurements[0].state(), "QUEUED") << measurements[0].error();
  EXPECT_EQ(measurements[0].attempt(), 0);  // given back: the attempt does not count
  EXPECT_NE(measurements[0].error().find("stopping"), std::string::npos) << measurements[0].error();

  // The same board, started again, finishes it.
  StartAgent();
  measurements = WaitForMeasurements(
      job->id(), [](const v1::Measurement& m) { return m.state() == "SUCCEEDED"; }, std::chrono::seconds(60),
      "measured by the restarted agent");
  ASSERT_EQ(measurements.size(), 1u);
  EXPECT_EQ(measurements[0].state(), "SUCCEEDED") << measurements[0].error() << Logs();
  EXPECT_EQ(measurements[0].attempt(), 1);
  EXPECT_EQ(measurements[0].result().bit_exact_inputs(), measurements[0].result().checked_inputs());
}

// Synthetic 28×28 data: `count` samples, labels i % 10, pixels from a fixed
// linear congruential sequence (what the model learns does not matter; the
// board must reproduce the host on whatever it learned).
std::vector<uint8_t> SyntheticPixels(int count, uint32_t seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(count) * 784);
  uint32_t state = seed;
  for (uint8_t& pixel : pixels) {
    state = state * 1664525u + 1013904223u;
    pixel = static_cast<uint8_t>(state >> 24);
  }
  return pixels;
}

std::string BigEndian32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

std::string IdxImages(int count, uint32_t seed) {
  const std::vector<uint8_t> pixels = SyntheticPixels(count, seed);
  return BigEndian32(0x00000803u) + BigEndian32(static_cast<uint32_t>(count)) + BigEndian32(28) + BigEndian32(28) +
         std::string(pixels.begin(), pixels.end());
}

std::string IdxLabels(int count) {
  std::string labels = BigEndian32(0x00000801u) + BigEndian32(static_cast<uint32_t>(count));
  for (int i = 0; i < count; ++i) labels.push_back(static_cast<char>(i % 10));
  return labels;
}

std::string Csv(int count, uint32_t seed) {
  const std::vector<uint8_t> pixels = SyntheticPixels(count, seed);
  std::string text = "label,pixels\n";
  for (int i = 0; i < count; ++i) {
    text += std::to_string(i % 10);
    for (int j = 0; j < 784; ++j) {
      text += ',';
      text += std::to_string(pixels[static_cast<size_t>(i) * 784 + j]);
    }
    text += "\n";
  }
  return text;
}

// An NPY version 1 file: `descr`, `shape`, then `data` (little-endian).
std::string Npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '";
  header += descr;
  header += "', 'fortran_order': False, 'shape': ";
  header += shape;
  header += ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string file = "\x93NUMPY";
  file += '\x01';
  file += '\x00';
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  file += header;
  file += data;
  return file;
}

// Float32 images in [0, 1] (float features, quantized by the agent as the
// engine does) and int64 labels.
std::string NpyFloatImages(int count, uint32_t seed) {
  const std::vector<uint8_t> pixels = SyntheticPixels(count, seed);
  std::string data(pixels.size() * 4, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) {
    const float value = static_cast<float>(pixels[i]) / 255.0f;
    std::memcpy(&data[i * 4], &value, 4);
  }
  return Npy("<f4", fmt::format("({}, 28, 28)", count), data);
}

std::string NpyLabels(int count) {
  std::string data(static_cast<size_t>(count) * 8, '\0');
  for (int i = 0; i < count; ++i) data[static_cast<size_t>(i) * 8] = static_cast<char>(i % 10);
  return Npy("<i8", fmt::format("({},)", count), data);
}

// Jobs trained on data sets uploaded to the server, in each format, are
// measured end to end: the agent fetches the data set as workers do, and
// quantizes 8-bit pixels and float features as the engine did.
TEST_F(AgentEndToEndTest, JobsOnUploadedIdxNpyAndCsvDataSetsAreMeasured) {
  struct Upload {
    std::string name, file, format, content;
  };
  const Upload uploads[] = {
      {"idx-train-images", "train-images.idx", "idx", IdxImages(200, 1)},
      {"idx-train-labels", "train-labels.idx", "idx", IdxLabels(200)},
      {"idx-test-images", "test-images.idx", "idx", IdxImages(40, 2)},
      {"idx-test-labels", "test-labels.idx", "idx", IdxLabels(40)},
      {"npy-train-images", "train-images.npy", "npy", NpyFloatImages(200, 3)},
      {"npy-train-labels", "train-labels.npy", "npy", NpyLabels(200)},
      {"npy-test-images", "test-images.npy", "npy", NpyFloatImages(40, 4)},
      {"npy-test-labels", "test-labels.npy", "npy", NpyLabels(40)},
      {"csv-train", "train.csv", "csv", Csv(200, 5)},
      {"csv-test", "test.csv", "csv", Csv(40, 6)},
  };
  for (const Upload& upload : uploads) {
    const CapturedRun uploaded =
        service_->Qatctl({"datasets", "upload", upload.name, service_->WriteFile(upload.file, upload.content),
                          "--format", upload.format});
    ASSERT_EQ(uploaded.exit_status, 0) << upload.name << ": " << uploaded.err << Logs();
  }
  StartAgent();
  ASSERT_EQ(WaitForDevice().size(), 1u) << Logs();

  const std::string data_specs[] = {
      R"({"source": "idx", "trainImages": "dataset:idx-train-images", "trainLabels": "dataset:idx-train-labels",
          "testImages": "dataset:idx-test-images", "testLabels": "dataset:idx-test-labels"})",
      R"({"source": "npy", "trainImages": "dataset:npy-train-images", "trainLabels": "dataset:npy-train-labels",
          "testImages": "dataset:npy-test-images", "testLabels": "dataset:npy-test-labels"})",
      R"({"source": "csv", "trainImages": "dataset:csv-train", "testImages": "dataset:csv-test",
          "height": 28, "width": 28, "channels": 1})",
  };
  for (const std::string& data : data_specs) {
    SCOPED_TRACE(data);
    std::optional<v1::Job> job = RunJob(R"({
  "experiment": "agent-e2e-uploaded-data",
  "model": {"preset": "cnn"},
  "data": )" + data + R"(,
  "training": {"epochs": 1},
  "configs": [{"weightBits": 8, "activationBits": 8}],
  "measureOn": ["mps2-an386"]
})");
    ASSERT_TRUE(job.has_value());
    ASSERT_EQ(job->state(), v1::SUCCEEDED) << job->error() << Logs();
    const std::vector<v1::Measurement> measurements = WaitForMeasurements(
        job->id(), [](const v1::Measurement& m) { return m.state() == "SUCCEEDED" || m.state() == "FAILED"; },
        std::chrono::seconds(90), "finished");
    ASSERT_FALSE(measurements.empty()) << Logs();
    for (const v1::Measurement& m : measurements) {
      SCOPED_TRACE(m.variant());
      EXPECT_EQ(m.state(), "SUCCEEDED") << m.error() << Logs();
      EXPECT_EQ(m.result().checked_inputs(), 20);
      EXPECT_EQ(m.result().bit_exact_inputs(), m.result().checked_inputs());
      EXPECT_GT(m.result().median_cycles(), 0u);
    }
  }
}

// What a user sees of measurements in qatctl: `submit --watch` follows the
// job and then the measurements it queued, until each has ended; `measure
// --watch` follows new ones; `show --layers` lists them with per-layer
// cycles, in text.
TEST_F(AgentEndToEndTest, WatchFollowsTheMeasurementsAndShowListsThemWithLayerCycles) {
  StartAgent();
  WaitForDevice();
  const std::string job_file = service_->WriteFile("watched.json", R"({
  "experiment": "agent-e2e-watch",
  "model": {"preset": "cnn"},
  "data": {"source": "mnist", "trainLimit": 300, "testLimit": 100},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "configs": [{"weightBits": 8, "activationBits": 8}],
  "measureOn": ["mps2-an386"]
})");
  const CapturedRun watched = service_->Qatctl({"submit", job_file, "--watch"}, std::chrono::seconds(240));
  ASSERT_EQ(watched.exit_status, 0) << watched.out << watched.err << Logs();
  const std::string job_id = FirstJobId(watched.out);
  EXPECT_NE(watched.out.find("measure qat_w8a8 on mps2-an386  SUCCEEDED"), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("measure ptq_w8a8 on mps2-an386  SUCCEEDED"), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("LATENCY"), std::string::npos) << watched.out;  // the final table has them

  const CapturedRun again =
      service_->Qatctl({"measure", job_id, "--variant", "qat_w8a8", "--watch"}, std::chrono::seconds(180));
  EXPECT_EQ(again.exit_status, 0) << again.out << again.err << Logs();
  EXPECT_NE(again.out.find("measure qat_w8a8 on mps2-an386  SUCCEEDED"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("ptq_w8a8"), std::string::npos) << "only the measurement queued here\n" << again.out;

  const CapturedRun shown = service_->Qatctl({"show", job_id, "--layers"});
  ASSERT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_NE(shown.out.find("measurements:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("DEVICE ACC"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("per-layer cycles:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("cycles in layers"), std::string::npos) << shown.out;
}

}  // namespace
}  // namespace qatlab::testing
