#include "device_agent/agent.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/mnist.h"
#include "device_agent/dut_client.h"
#include "device_agent/qemu_board.h"
#include "device_agent/serial_port.h"
#include "engine/integer_export.h"
#include "engine/integer_runner.h"
#include "process/stop_signal.h"
#include "retry/backoff.h"
#include "server_client/host_name.h"
#include "server_client/lease_client.h"
#include "server_client/lease_keeper.h"
#include "server_client/server_link.h"

#ifndef QATLAB_AGENT_BUILD_TREE_FIRMWARE_DIR
#define QATLAB_AGENT_BUILD_TREE_FIRMWARE_DIR ""
#endif
// The installed images relative to the installed agent: the install's
// <datadir>/qatlab/firmware seen from its <bindir> (device_agent/CMakeLists.txt).
#ifndef QATLAB_AGENT_INSTALLED_FIRMWARE_DIR
#define QATLAB_AGENT_INSTALLED_FIRMWARE_DIR "../share/qatlab/firmware"
#endif

namespace qatlab {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Reaching a server that is away, bringing a board back: 250 ms doubling to
// 5 s, with jitter.
constexpr BackoffPolicy kRetryBackoff{milliseconds(250), milliseconds(5000), 0.2};
// How long a report (complete, fail) is repeated while the server is away.
constexpr milliseconds kReportRetries(8000);

// The board the agent owns: a real one on a serial port, or QEMU running the
// firmware. Used by the main loop only; StopEmulator() may be called from the
// signal thread.
class AttachedBoard {
 public:
  explicit AttachedBoard(const AgentOptions& options) : options_(options) {}

  bool emulated() const { return options_.serial_port.empty(); }
  bool connected() const { return client_ != nullptr; }
  DutClient& client() { return *client_; }
  const BoardInfo& info() const { return info_; }
  std::string timing_model() const { return timing_model_; }
  double virtual_ns_per_instruction() const { return qemu_ ? qemu_->virtual_ns_per_instruction() : 1.0; }

  // Brings the board up (starts QEMU / opens the port) and handshakes.
  Status Connect() {
    Disconnect();
    SerialPort* port = nullptr;
    if (emulated()) {
      QemuBoardOptions qemu;
      QATLAB_ASSIGN_OR_RETURN(qemu.kind, ParseBoardKind(options_.board_kind));
      qemu.firmware_elf = options_.firmware_elf;
      qemu.qemu_binary = options_.qemu_binary;
      QATLAB_ASSIGN_OR_RETURN(qemu_, QemuBoard::Start(qemu));
      emulator_pid_.store(qemu_->pid());
      timing_model_ = qemu_->timing_model();
      port = &qemu_->serial();
    } else {
      TtyOptions tty;
      tty.baud = options_.baud;
      QATLAB_ASSIGN_OR_RETURN(tty_, OpenTtySerialPort(options_.serial_port, tty));
      timing_model_ = "dwt cyccnt";
      port = tty_.get();
    }
    StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect(*port);
    if (!client.ok()) {
      Disconnect();
      return client.status();
    }
    client_ = std::move(*client);
    info_ = client_->board();
    if (!emulated() && info_.cycle_counter != "dwt") timing_model_ = info_.cycle_counter;
    if (!emulated() && info_.clock_model == "qemu-icount") {
      // An emulator image behind a serial port (a pty handed over by hand):
      // its counter runs on virtual time, whatever the port says.
      Disconnect();
      return Status::FailedPrecondition("the board on " + options_.serial_port + " runs an emulator image (" +
                                        info_.board + ", clock_model qemu-icount); its cycles are not silicon's");
    }
    return Status::Ok();
  }

  void Disconnect() {
    client_.reset();
    emulator_pid_.store(0);
    qemu_.reset();  // kills and reaps QEMU
    tty_.reset();
  }

  // True while the link is believed to work: QEMU still runs (a real port is
  // only found dead by using it).
  bool Alive() {
    if (!connected()) return false;
    return qemu_ == nullptr || qemu_->IsAlive();
  }

  // Signal-thread safe: SIGKILL to the emulator's process group, so a
  // measurement in flight ends at once; the main loop reaps it.
  void StopEmulator() {
    const pid_t pid = emulator_pid_.load();
    if (pid > 0) ::kill(-pid, SIGKILL);
  }

 private:
  const AgentOptions& options_;
  std::unique_ptr<QemuBoard> qemu_;
  std::unique_ptr<SerialPort> tty_;
  std::unique_ptr<DutClient> client_;
  BoardInfo info_;
  std::string timing_model_;
  std::atomic<pid_t> emulator_pid_{0};
};

// What became of one leased measurement.
struct Outcome {
  enum Kind { kMeasured, kFailed, kGiveBack, kLeaseLost } kind = kFailed;
  v1::MeasurementResult result;  // kMeasured
  std::string error;             // kFailed, kGiveBack
};

class Agent {
 public:
  Agent(const AgentOptions& options, std::string token, ChannelSecurity security)
      : options_(options),
        server_({options.server_address, std::move(token), /*wait_for_ready=*/false, std::move(security)}),
        board_(options_) {}

  // Called from the signal thread.
  void RequestStop() {
    {
      std::lock_guard lock(stop_mutex_);
      if (stop_.exchange(true)) return;
      stop_changed_.notify_all();
    }
    spdlog::info("agent: stopping");
    server_.CancelLeases();
    board_.StopEmulator();
  }

  int Run() {
    if (!ConnectBoard(std::nullopt).ok()) return stop_.load() ? 0 : 1;
    while (!stop_.load()) {
      if (!board_.Alive()) {
        spdlog::warn("agent: the board went away; reconnecting");
        if (!ConnectBoard(std::nullopt).ok()) break;
      }
      if (device_id_.empty()) {
        Status registered = Register();
        if (registered.code() == StatusCode::kUnauthenticated || registered.code() == StatusCode::kInvalidArgument) {
          spdlog::error("agent: {}", registered.ToString());
          board_.Disconnect();
          return 1;
        }
        if (!registered.ok()) {
          WaitToRetry("register with " + server_.address(), registered);
          continue;
        }
      }
      StatusOr<v1::LeaseMeasurementResponse> lease = server_.LeaseMeasurement(device_id_, options_.lease_wait_ms);
      if (!lease.ok()) {
        if (stop_.load()) break;
        if (lease.status().code() == StatusCode::kNotFound) {
          device_id_.clear();  // the server forgot us (new database): register again
          continue;
        }
        WaitToRetry("lease a measurement", lease.status());
        continue;
      }
      server_backoff_.Reset();
      if (!lease->has_measurement()) continue;
      HandleLease(*lease);
    }
    board_.Disconnect();
    spdlog::info("agent: stopped");
    return 0;
  }

 private:
  void WaitToRetry(const std::string& what, const Status& error) {
    const milliseconds wait = server_backoff_.Next();
    spdlog::warn("agent: cannot {} ({}); retrying in {} ms", what, error.ToString(), wait.count());
    SleepUnlessStopped(wait);
  }

  // Sleeps up to `duration`; false (early) once the agent is stopping.
  bool SleepUnlessStopped(milliseconds duration) {
    std::unique_lock lock(stop_mutex_);
    return !stop_changed_.wait_for(lock, duration, [this] { return stop_.load(); });
  }

  // (Re)starts the board with exponential back-off until it answers, `stop`,
  // or `give_up_after` passed. A restarted board is registered again so the
  // server sees what it reports now.
  Status ConnectBoard(std::optional<milliseconds> give_up_after) {
    const Clock::time_point start = Clock::now();
    Backoff backoff(kRetryBackoff);
    Status last;
    for (int attempt = 1; !stop_.load(); ++attempt) {
      last = board_.Connect();
      if (last.ok()) {
        const BoardInfo& info = board_.info();
        spdlog::info("agent: board {} ({}, {} Hz, {} KiB flash, {} KiB RAM, firmware {}, kernels {}){}", info.name,
                     info.core, info.clock_hz, info.flash_bytes / 1024, info.ram_bytes / 1024, info.firmware_version,
                     info.kernel_variant, board_.emulated() ? " emulated" : "");
        device_id_.clear();
        return Status::Ok();
      }
      spdlog::warn("agent: board not available (attempt {}): {}", attempt, last.ToString());
      if (last.code() == StatusCode::kInvalidArgument && attempt == 1 && board_.emulated()) {
        return last;  // a bad board kind or firmware path does not get better
      }
      const milliseconds wait = backoff.Next();
      if (give_up_after.has_value() && Clock::now() - start + wait > *give_up_after) return last;
      SleepUnlessStopped(wait);
    }
    return last.ok() ? Status::Cancelled("the agent is stopping") : last;
  }

  Status Register() {
    const BoardInfo& info = board_.info();
    v1::Device device;
    device.set_name(DeviceName());
    device.set_board_kind(info.board.empty() ? options_.board_kind : info.board);
    device.set_core(info.core);
    device.set_clock_hz(info.clock_hz);
    device.set_flash_bytes(info.flash_bytes);
    device.set_ram_bytes(info.ram_bytes);
    device.set_firmware_version(info.firmware_version);
    device.set_kernel_variant(info.kernel_variant);
    device.set_emulated(board_.emulated());
    QATLAB_ASSIGN_OR_RETURN(const v1::Device registered, server_.RegisterDevice(device));
    device_id_ = registered.id();
    spdlog::info("agent: registered as device {} ({}, {})", device_id_, registered.name(), registered.board_kind());
    return Status::Ok();
  }

  std::string DeviceName() const {
    if (!options_.name.empty()) return options_.name;
    if (board_.emulated()) return HostName() + "-qemu-" + options_.board_kind;
    return HostName() + "-" + std::filesystem::path(options_.serial_port).filename().string();
  }

  void HandleLease(const v1::LeaseMeasurementResponse& lease) {
    const v1::Measurement& m = lease.measurement();
    spdlog::info("measurement {}: job {} variant {} (attempt {})", m.id(), m.job_id(), m.variant(), m.attempt());
    Outcome outcome;
    {
      LeaseKeeper keeper("measurement " + m.id(), HeartbeatInterval(0, lease.lease_deadline_unix_ms()),
                         [&](const v1::EpochStats*) { return server_.HeartbeatMeasurement(m.id(), lease.lease_id()); });
      outcome = Measure(m, keeper);
      if (!keeper.held()) outcome.kind = Outcome::kLeaseLost;
    }
    Status reported;
    switch (outcome.kind) {
      case Outcome::kMeasured:
        reported =
            ReportWithRetries([&] { return server_.CompleteMeasurement(m.id(), lease.lease_id(), outcome.result); });
        if (reported.ok()) {
          spdlog::info("measurement {}: done: median {} cycles ({:.1f} us), {}/{} outputs bit-exact", m.id(),
                       outcome.result.median_cycles(), outcome.result.median_us(), outcome.result.bit_exact_inputs(),
                       outcome.result.checked_inputs());
        }
        break;
      case Outcome::kFailed:
        spdlog::warn("measurement {}: failed: {}", m.id(), outcome.error);
        reported =
            ReportWithRetries([&] { return server_.FailMeasurement(m.id(), lease.lease_id(), outcome.error, false); });
        break;
      case Outcome::kGiveBack:
        spdlog::info("measurement {}: giving it back: {}", m.id(), outcome.error);
        reported =
            ReportWithRetries([&] { return server_.FailMeasurement(m.id(), lease.lease_id(), outcome.error, true); });
        break;
      case Outcome::kLeaseLost: spdlog::warn("measurement {}: lease lost; nothing reported", m.id()); break;
    }
    if (!reported.ok()) spdlog::warn("measurement {}: could not report: {}", m.id(), reported.ToString());
  }

  // A report the server refused for good (stale lease) is not repeated; one
  // that did not reach it is, for a few seconds.
  template <typename Call>
  Status ReportWithRetries(Call call) {
    return RetryWhileUnavailable(call, Backoff(kRetryBackoff), kReportRetries);
  }

  static Outcome Failed(std::string error) { return {Outcome::kFailed, {}, std::move(error)}; }
  static Outcome GiveBack(std::string error) { return {Outcome::kGiveBack, {}, std::move(error)}; }
  // A server-side lookup that failed: gone for good, or worth another agent's try.
  static Outcome FromLookup(const Status& status) {
    // A download that did not match its announced size or sha256 is a
    // transfer fault: another try may well succeed.
    return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kCancelled ||
                   status.code() == StatusCode::kCorruption
               ? GiveBack(status.ToString())
               : Failed(status.ToString());
  }

  std::string DataCacheDir() const {
    return options_.data_cache_dir.empty() ? DefaultDataCacheDir() : options_.data_cache_dir;
  }

  // The job's test images, loaded once per data spec.
  StatusOr<const Dataset*> TestImages(const v1::DataSpec& spec) {
    const std::string key = spec.SerializeAsString();
    auto found = test_sets_.find(key);
    if (found != test_sets_.end()) return &found->second;
    // Data sets uploaded to the server (`dataset:<name>`, any format) come
    // from it, as workers fetch them, into the same cache.
    v1::DataSpec local = spec;
    QATLAB_RETURN_IF_ERROR(
        server_.ResolveUploadedDatasets(&local, (std::filesystem::path(DataCacheDir()) / "datasets").string()));
    QATLAB_ASSIGN_OR_RETURN(DatasetPair pair, LoadDataset(local, options_.data_cache_dir));
    if (test_sets_.size() >= 4) test_sets_.clear();  // a bounded cache: specs rarely vary
    return &test_sets_.emplace(key, std::move(pair.test)).first->second;
  }

  // A board with a model slot (qm-info slot_bytes) keeps the model across
  // resets: it is uploaded, then programmed into the slot (qm-slot-save)
  // under the id "q" + its CRC-32, and MeasureModel then measures the
  // board's copy without uploading it again. A slot that does not take it
  // (QEMU's netduinoplus2 maps its flash as ROM; docs/protocol.md) leaves the
  // uploaded model loaded, which is measured all the same.
  void ProgramModelSlot(const std::vector<uint8_t>& qmodel, const std::string& measurement_id) {
    DutClient& client = board_.client();
    const int64_t bytes = static_cast<int64_t>(qmodel.size());
    const uint32_t crc = Crc32(qmodel);
    const BoardInfo& info = client.board();
    if (info.slot_bytes < bytes || info.model_capacity < bytes) return;
    if (info.model_source == "slot" && info.model_bytes == bytes && info.model_crc == crc) return;
    StatusOr<LoadedModel> uploaded = client.UploadModel(qmodel);
    if (!uploaded.ok()) return;  // MeasureModel uploads again and reports what fails
    const std::string id = fmt::format("q{:08x}", crc);
    Status saved = client.SaveModelToSlot(id);
    if (saved.ok()) {
      spdlog::info("measurement {}: the model is in the board's slot as {}", measurement_id, id);
    } else {
      spdlog::warn("measurement {}: the board's model slot did not take the model ({}); measuring the uploaded copy",
                   measurement_id, saved.ToString());
    }
  }

  Outcome Measure(const v1::Measurement& m, const LeaseKeeper& keeper) {
    StatusOr<v1::Job> job = server_.GetJob(m.job_id());
    if (!job.ok()) return FromLookup(job.status());
    StatusOr<const Dataset*> test = TestImages(job->spec().data());
    if (!test.ok()) return Failed("test data of job " + m.job_id() + ": " + test.status().ToString());
    const std::string artifact = m.variant() + ".qmodel";
    StatusOr<std::string> downloaded = server_.DownloadArtifact(m.job_id(), artifact);
    if (!downloaded.ok()) return FromLookup(downloaded.status());
    const std::vector<uint8_t> qmodel(downloaded->begin(), downloaded->end());
    StatusOr<IntegerRunner> host = IntegerRunner::Open(qmodel);
    if (!host.ok()) return Failed(artifact + " of job " + m.job_id() + ": " + host.status().ToString());

    // Refused before anything is sent: the board could never hold it.
    const BoardInfo& board = board_.info();
    const int64_t model_bytes = static_cast<int64_t>(qmodel.size());
    // A model the board holds in flash needs no room in its upload buffer.
    const bool on_board = board.model_loaded && board.model_bytes == model_bytes && board.model_crc == Crc32(qmodel);
    if ((board.flash_bytes > 0 && model_bytes > board.flash_bytes) ||
        (!on_board && board.model_capacity > 0 && model_bytes > board.model_capacity)) {
      return Failed(
          fmt::format("{} of job {} does not fit board {}: the model is {} bytes, the board has {} bytes "
                      "of flash and a {}-byte model buffer",
                      artifact, m.job_id(), board.name, model_bytes, board.flash_bytes, board.model_capacity));
    }
    if ((board.ram_bytes > 0 && host->arena_bytes() > board.ram_bytes) ||
        (board.arena_capacity > 0 && host->arena_bytes() > board.arena_capacity)) {
      return Failed(
          fmt::format("{} of job {} does not fit board {}: the model needs {} bytes of activation RAM, "
                      "the board has {} bytes of RAM and a {}-byte arena",
                      artifact, m.job_id(), board.name, host->arena_bytes(), board.ram_bytes, board.arena_capacity));
    }

    const Dataset& images = **test;
    if (images.sample_size() != host->input_bytes()) {
      return Failed(fmt::format("{} takes {} input bytes, the test images of job {} have {}", artifact,
                                host->input_bytes(), m.job_id(), images.sample_size()));
    }
    MeasurementOptions measurement = options_.measurement;
    const int wanted = std::max(measurement.check_inputs, measurement.accuracy_samples);
    const int count = std::min(images.size(), std::max(wanted, 1));
    if (count == 0) return Failed("job " + m.job_id() + " has no test images");
    MeasurementInputs inputs;
    for (int i = 0; i < count; ++i) {
      std::vector<int8_t> input(static_cast<size_t>(host->input_bytes()));
      // 8-bit images (IDX, NPY uint8) or float features (CSV, NPY float), each
      // quantized as the engine did when it measured the accuracy.
      if (images.has_pixels()) {
        host->QuantizeImage(images.pixel_image(i), input.data());
      } else {
        QuantizeFloatImage(images.float_image(i), input.size(), host->input_scale(), host->input_zero_point(),
                           input.data());
      }
      inputs.inputs.push_back(std::move(input));
      inputs.labels.push_back(images.labels[static_cast<size_t>(i)]);
    }

    Status last;
    for (int run = 1; run <= options_.local_attempts; ++run) {
      if (stop_.load()) return GiveBack("the agent is stopping");
      if (!keeper.held()) return {Outcome::kLeaseLost, {}, ""};
      if (!board_.Alive()) {
        spdlog::warn("measurement {}: the board was lost before run {}; bringing it back", m.id(), run);
        Status connected = ConnectBoard(milliseconds(options_.board_reconnect_timeout_ms));
        if (!connected.ok()) {
          return GiveBack(stop_.load() ? "the agent is stopping" : "board unavailable: " + connected.ToString());
        }
      }
      measurement.emulated = board_.emulated();
      measurement.timing_model = board_.timing_model();
      measurement.virtual_ns_per_instruction = board_.virtual_ns_per_instruction();
      spdlog::info("measurement {}: run {} on the board: {} model bytes, {} inputs", m.id(), run, model_bytes,
                   inputs.inputs.size());
      ProgramModelSlot(qmodel, m.id());
      StatusOr<v1::MeasurementResult> result = MeasureModel(board_.client(), qmodel, inputs, measurement);
      if (result.ok()) return {Outcome::kMeasured, std::move(*result), ""};
      last = result.status();
      if (stop_.load()) return GiveBack("the agent is stopping");
      if (last.code() == StatusCode::kResourceExhausted) {
        return Failed(artifact + " does not fit board " + board.name + ": " + last.ToString());
      }
      if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kIOError) {
        return Failed(last.ToString());
      }
      spdlog::warn("measurement {}: the board was lost during run {} of {}: {}", m.id(), run, options_.local_attempts,
                   last.ToString());
      board_.Disconnect();  // the next run starts from a fresh board
    }
    return GiveBack(fmt::format("the board was lost {} times; last: {}", options_.local_attempts, last.ToString()));
  }

  const AgentOptions& options_;
  LeaseClient server_;
  AttachedBoard board_;
  std::atomic<bool> stop_{false};  // set under stop_mutex_, read anywhere
  std::mutex stop_mutex_;
  std::condition_variable stop_changed_;
  std::string device_id_;  // empty: not registered (again) yet
  Backoff server_backoff_{kRetryBackoff};
  std::map<std::string, Dataset> test_sets_;
};

}  // namespace

std::vector<std::string> FirmwareSearchPath(const std::string& board_kind) {
  const std::string relative = board_kind + "/qatlab-fw.elf";
  std::vector<std::string> candidates;
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path bin = exe.parent_path();
    candidates.push_back((bin / "firmware" / relative).lexically_normal().string());
    candidates.push_back((bin / QATLAB_AGENT_INSTALLED_FIRMWARE_DIR / relative).lexically_normal().string());
  }
  candidates.push_back((std::filesystem::path(QATLAB_AGENT_BUILD_TREE_FIRMWARE_DIR) / relative).string());
  return candidates;
}

std::string DefaultFirmwarePath(const std::string& board_kind) {
  const std::vector<std::string> candidates = FirmwareSearchPath(board_kind);
  std::error_code error;
  for (const std::string& candidate : candidates) {
    if (std::filesystem::is_regular_file(candidate, error)) return candidate;
  }
  return "";
}

int RunAgent(const AgentOptions& given) {
  AgentOptions options = given;
  if (options.server_address.empty()) {
    spdlog::error("agent: --server HOST:PORT is required");
    return 1;
  }
  if (options.serial_port.empty()) {
    if (!ParseBoardKind(options.board_kind).ok()) {
      spdlog::error("agent: unknown emulated board kind '{}' (mps2-an386 or netduinoplus2)", options.board_kind);
      return 1;
    }
    if (options.firmware_elf.empty()) {
      options.firmware_elf = DefaultFirmwarePath(options.board_kind);
      if (options.firmware_elf.empty()) {
        spdlog::error("agent: no firmware for {} (looked for {}); build it, install it, or pass --firmware ELF",
                      options.board_kind, fmt::join(FirmwareSearchPath(options.board_kind), ", "));
        return 1;
      }
    }
    if (!std::filesystem::is_regular_file(options.firmware_elf)) {
      spdlog::error("agent: firmware {} not found (build it, or pass --firmware ELF)", options.firmware_elf);
      return 1;
    }
    spdlog::info("agent: emulated board {}, firmware {}", options.board_kind, options.firmware_elf);
  }
  if (options.local_attempts < 1 || options.lease_wait_ms < 0) {
    spdlog::error("agent: --local-attempts must be >= 1 and --lease-wait-ms >= 0");
    return 1;
  }
  StatusOr<std::string> token = ResolveToken(options.token_file);
  if (!token.ok()) {
    spdlog::error("agent: {}", token.status().ToString());
    return 1;
  }
  StatusOr<ChannelSecurity> security = LoadChannelSecurity(options.tls);
  if (!security.ok()) {
    spdlog::error("agent: {}", security.status().ToString());
    return 1;
  }

  StatusOr<std::unique_ptr<StopSignal>> stop_signal = StopSignal::Install();
  if (!stop_signal.ok()) {
    spdlog::error("agent: {}", stop_signal.status().ToString());
    return 1;
  }
  Agent agent(options, std::move(*token), std::move(*security));
  (*stop_signal)->OnSignal([&agent](int) { agent.RequestStop(); });
  const int exit_code = agent.Run();
  stop_signal->reset();  // ends the signal thread before the agent goes
  return exit_code;
}

}  // namespace qatlab
