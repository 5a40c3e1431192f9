// MeasureModel on the emulated board: a complete measurement, refusals
// before upload, an emulator that dies mid-way, repeatable emulated timing,
// and cycles that follow the work done.
#include "device_agent/measurement.h"

#include <signal.h>

#include <thread>

#include "engine/integer_runner.h"
#include "engine/qmodel_writer.h"
#include "tests/device/emulated_board.h"
#include "tests/device/fault_injecting_serial_port.h"
#include "tests/device/seeded_models.h"
#include "tests/support/wait_until.h"

namespace qatlab {
namespace {

std::vector<uint8_t> Write(const IntegerModel& model) {
  StatusOr<std::vector<uint8_t>> bytes = WriteQModel(model);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

MeasurementOptions QuickOptions(const QemuBoard& board) {
  MeasurementOptions options;
  options.emulated = true;
  options.timing_model = board.timing_model();
  options.virtual_ns_per_instruction = board.virtual_ns_per_instruction();
  options.check_inputs = 4;
  options.accuracy_samples = 4;
  options.warmup = 2;
  options.windows = 3;
  options.inferences_per_window = 4;
  return options;
}

EmulatedBoard Boot() {
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_MPS2_AN386);
  EXPECT_TRUE(board.ok()) << board.status().ToString();
  return board.ok() ? std::move(board).value() : EmulatedBoard{};
}

TEST(MeasureModel, MeasuresAndChecksBitExactOnTheBoard) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  EmulatedBoard board = Boot();
  ASSERT_TRUE(board.client);
  std::vector<uint8_t> qmodel = Write(SeededCnnModel(21));
  StatusOr<IntegerRunner> host = IntegerRunner::Open(qmodel);
  ASSERT_TRUE(host.ok()) << host.status().ToString();

  // Labels from the host's own answers: the board must agree on all of them.
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(6, 28 * 28, 22);
  for (const std::vector<int8_t>& input : inputs.inputs) {
    std::vector<int8_t> logits(10);
    ASSERT_TRUE(host->Run(input.data(), logits.data()).ok());
    inputs.labels.push_back(static_cast<int>(qk_argmax_s8(logits.data(), 10)));
  }
  MeasurementOptions options = QuickOptions(*board.board);
  options.check_inputs = 5;
  options.accuracy_samples = 6;

  StatusOr<v1::MeasurementResult> result = MeasureModel(*board.client, qmodel, inputs, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->emulated());
  EXPECT_EQ(result->timing_model(), "qemu icount shift=0, virtual (instruction-count model)");
  EXPECT_EQ(result->clock_hz(), 25000000u);
  EXPECT_EQ(result->board(), "mps2-an386");
  // One cycle per instruction: a SysTick tick at 25 MHz spans 40 ns of
  // virtual time, 40 instructions at shift=0.
  EXPECT_EQ(result->median_cycles(), result->median_counter_ticks() * 40);
  EXPECT_EQ(result->kernel_variant(), "cortex-m-dsp");
  EXPECT_EQ(result->checked_inputs(), 6);
  EXPECT_EQ(result->bit_exact_inputs(), 6);
  EXPECT_EQ(result->accuracy_samples(), 6);
  EXPECT_DOUBLE_EQ(result->device_accuracy(), 100.0);
  EXPECT_EQ(result->windows(), 3);
  EXPECT_EQ(result->inferences_per_window(), 4);
  EXPECT_GT(result->median_cycles(), 0u);
  EXPECT_LE(result->min_cycles(), result->median_cycles());
  EXPECT_GE(result->max_cycles(), result->median_cycles());
  EXPECT_NEAR(result->median_us(), result->median_cycles() / 25.0, 1e-6);
  EXPECT_EQ(result->flash_bytes(), static_cast<int64_t>(qmodel.size()));
  EXPECT_EQ(result->arena_bytes(), host->arena_bytes());
  ASSERT_EQ(result->layers_size(), 5);
  EXPECT_EQ(result->layers(0).op(), "conv2d");
  EXPECT_EQ(result->layers(1).op(), "max_pool");
  EXPECT_EQ(result->layers(4).op(), "dense");
  uint64_t layer_sum = 0;
  for (const v1::LayerCycles& layer : result->layers()) layer_sum += layer.cycles();
  // The layers account for the inference, less the interpreter's glue.
  EXPECT_LE(layer_sum, result->max_cycles());
  EXPECT_GT(layer_sum, result->min_cycles() * 8 / 10);
}

TEST(MeasureModel, ModelLargerThanTheBoardIsRefusedBeforeUpload) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  StatusOr<EmulatedBoard> board = BootEmulatedBoard(QATLAB_FIRMWARE_MPS2_AN386);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  FaultInjectingSerialPort counting(board->board->serial());
  StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect(counting);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  int64_t model_capacity = (*client)->board().model_capacity;

  // 784·400 int8 weights alone are more than the 256 KiB model buffer.
  std::vector<uint8_t> qmodel = Write(SeededDenseModel({784, 400, 10}, 31));
  ASSERT_GT(static_cast<int64_t>(qmodel.size()), model_capacity);
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(1, 784, 32);
  int64_t before = counting.bytes_written();
  StatusOr<v1::MeasurementResult> result = MeasureModel(**client, qmodel, inputs, QuickOptions(*board->board));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(result.status().message().find("exceeds the model buffer of " + std::to_string(model_capacity)),
            std::string::npos)
      << result.status().ToString();
  // Only the qm-info question went out: no qm-begin, no chunk.
  EXPECT_LT(counting.bytes_written() - before, 16);
}

TEST(MeasureModel, ModelNeedingMoreArenaThanTheBoardIsRefusedBeforeUpload) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  EmulatedBoard board = Boot();
  ASSERT_TRUE(board.client);
  // Small weights, large activations: 28·28·200 int8 outputs of one conv.
  std::vector<uint8_t> qmodel;
  {
    IntegerModel model;
    model.name = "wide conv";
    model.tensors = {IntegerTensor{28, 28, 1, 1.0f, 0}};
    IntegerModel conv = SeededCnnModel(34);
    // The CNN's first conv, widened to 200 channels.
    IntegerOp op = conv.ops[0];
    op.weights.assign(200 * 9, 1);
    op.bias.assign(200, 0);
    op.multiplier.assign(200, conv.ops[0].multiplier[0]);
    op.shift.assign(200, conv.ops[0].shift[0]);
    model.tensors.push_back(IntegerTensor{28, 28, 200, 1.0f, 0});
    op.output = 1;
    model.ops.push_back(op);
    IntegerOp pool;
    pool.kind = IntegerOpKind::kGlobalAvgPool;
    pool.input = 1;
    pool.output = 2;
    pool.kernel_h = 28;
    pool.kernel_w = 28;
    model.tensors.push_back(IntegerTensor{1, 1, 200, 1.0f, 0});
    model.ops.push_back(pool);
    model.output_tensor = 2;
    model.num_classes = 200;
    qmodel = Write(model);
  }
  ASSERT_FALSE(qmodel.empty());
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(1, 784, 35);
  StatusOr<v1::MeasurementResult> result = MeasureModel(*board.client, qmodel, inputs, QuickOptions(*board.board));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(result.status().message().find("bytes of activation arena"), std::string::npos)
      << result.status().ToString();
  EXPECT_NE(result.status().message().find("not uploaded"), std::string::npos);
}

TEST(MeasureModel, EmulatorKilledMidMeasurementIsUnavailableAndARetryCompletes) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  std::vector<uint8_t> qmodel = Write(SeededCnnModel(41));
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(4, 28 * 28, 42);
  {
    QemuBoardOptions board_options;
    board_options.firmware_elf = QATLAB_FIRMWARE_MPS2_AN386;
    StatusOr<std::unique_ptr<QemuBoard>> board = QemuBoard::Start(board_options);
    ASSERT_TRUE(board.ok()) << board.status().ToString();
    // Only to count the bytes sent: no fault is armed.
    FaultInjectingSerialPort counted((*board)->serial());
    StatusOr<std::unique_ptr<DutClient>> client = DutClient::Connect(counted);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    const pid_t pid = (*board)->pid();
    // Kill QEMU while the model is on its way up: once a quarter of it has
    // been sent (the upload goes in acknowledged chunks and takes about a
    // second at the pty's speed).
    const int64_t sent_before = counted.bytes_written();
    std::chrono::steady_clock::time_point killed_at;
    std::thread killer([&] {
      EXPECT_TRUE(test_support::WaitUntil(
          [&] { return counted.bytes_written() - sent_before >= static_cast<int64_t>(qmodel.size() / 4); },
          std::chrono::seconds(30), "a quarter of the model to be sent"));
      killed_at = std::chrono::steady_clock::now();
      ::kill(pid, SIGKILL);
    });
    StatusOr<v1::MeasurementResult> result = MeasureModel(**client, qmodel, inputs, QuickOptions(**board));
    const auto returned_at = std::chrono::steady_clock::now();
    killer.join();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
    EXPECT_NE(result.status().message().find("hung up"), std::string::npos) << result.status().ToString();
    // Noticed at once after the kill, not after a pile of timeouts and
    // retries (counted from the kill: the upload before it slows with the
    // machine's load).
    EXPECT_LT(returned_at - killed_at, std::chrono::seconds(5));
    EXPECT_TRUE((*client)->link_lost());
    // The pty hangs up while QEMU is still exiting; it is gone soon after.
    EXPECT_TRUE(test_support::WaitUntil([&] { return !(*board)->IsAlive(); }, std::chrono::seconds(10),
                                        "the killed emulator to be reaped"));
  }
  EmulatedBoard fresh = Boot();
  ASSERT_TRUE(fresh.client);
  StatusOr<v1::MeasurementResult> retried = MeasureModel(*fresh.client, qmodel, inputs, QuickOptions(*fresh.board));
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->bit_exact_inputs(), retried->checked_inputs());
}

TEST(MeasureModel, EmulatedLatencyIsIdenticalAcrossRuns) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  std::vector<uint8_t> qmodel = Write(SeededCnnModel(51));
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(1, 28 * 28, 52);
  std::vector<v1::MeasurementResult> runs;
  for (int run = 0; run < 2; ++run) {
    EmulatedBoard board = Boot();  // a fresh emulator each time
    ASSERT_TRUE(board.client);
    StatusOr<v1::MeasurementResult> result = MeasureModel(*board.client, qmodel, inputs, QuickOptions(*board.board));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    runs.push_back(*result);
  }
  EXPECT_EQ(runs[0].median_cycles(), runs[1].median_cycles());
  EXPECT_EQ(runs[0].min_cycles(), runs[1].min_cycles());
  EXPECT_EQ(runs[0].max_cycles(), runs[1].max_cycles());
  ASSERT_EQ(runs[0].layers_size(), runs[1].layers_size());
  for (int i = 0; i < runs[0].layers_size(); ++i) {
    EXPECT_EQ(runs[0].layers(i).cycles(), runs[1].layers(i).cycles()) << "layer " << i;
  }
}

// Under -icount every board of a core runs one instruction per virtual
// nanosecond, whatever its clock; the estimate of one cycle per instruction
// at the board's own clock puts the latencies in the inverse ratio of the
// clocks: 25 MHz (mps2-an386) against 168 MHz (netduinoplus2).
TEST(MeasureModel, SameModelOnBoardsOfDifferentClocksShowsLatenciesInTheirRatio) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_NETDUINOPLUS2);
  std::vector<uint8_t> qmodel = Write(SeededDenseModel({256, 64, 10}, 81));
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(1, 256, 82);
  std::vector<v1::MeasurementResult> results;
  for (auto [elf, kind] : {std::pair{QATLAB_FIRMWARE_MPS2_AN386, BoardKind::kMps2An386},
                           std::pair{QATLAB_FIRMWARE_NETDUINOPLUS2, BoardKind::kNetduinoPlus2}}) {
    StatusOr<EmulatedBoard> board = BootEmulatedBoard(elf, kind);
    ASSERT_TRUE(board.ok()) << board.status().ToString();
    StatusOr<v1::MeasurementResult> result = MeasureModel(*board->client, qmodel, inputs, QuickOptions(*board->board));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    results.push_back(*result);
  }
  EXPECT_EQ(results[0].board(), "mps2-an386");
  EXPECT_EQ(results[1].board(), "netduinoplus2");
  ASSERT_EQ(results[0].clock_hz(), 25000000u);
  ASSERT_EQ(results[1].clock_hz(), 168000000u);
  // The same instructions on both: cycles agree to a tick of either counter.
  const double cycles[2] = {static_cast<double>(results[0].median_cycles()),
                            static_cast<double>(results[1].median_cycles())};
  EXPECT_NEAR(cycles[1] / cycles[0], 1.0, 0.01) << cycles[0] << " vs " << cycles[1];
  const double latency_ratio = results[0].median_us() / results[1].median_us();
  RecordProperty("latency_ratio", std::to_string(latency_ratio));
  EXPECT_NEAR(latency_ratio, 168.0 / 25.0, 0.01 * 168.0 / 25.0)
      << results[0].median_us() << " us at 25 MHz vs " << results[1].median_us() << " us at 168 MHz";
}

TEST(MeasureModel, TwiceTheMacsTakesAboutTwiceTheCycles) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  IntegerModel small = SeededDenseModel({256, 32, 10}, 61);
  IntegerModel large = SeededDenseModel({512, 32, 10}, 62);
  StatusOr<ModelFootprint> small_footprint = ComputeFootprint(small);
  StatusOr<ModelFootprint> large_footprint = ComputeFootprint(large);
  ASSERT_TRUE(small_footprint.ok() && large_footprint.ok());
  double mac_ratio = static_cast<double>(large_footprint->macs) / small_footprint->macs;
  ASSERT_NEAR(mac_ratio, 2.0, 0.1);

  EmulatedBoard board = Boot();
  ASSERT_TRUE(board.client);
  uint64_t cycles[2];
  int index = 0;
  for (const IntegerModel* model : {&small, &large}) {
    int input_bytes = model->tensors[0].channels;
    MeasurementInputs inputs;
    inputs.inputs = SeededInputs(1, input_bytes, 63);
    StatusOr<v1::MeasurementResult> result =
        MeasureModel(*board.client, Write(*model), inputs, QuickOptions(*board.board));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    cycles[index++] = result->median_cycles();
  }
  double cycle_ratio = static_cast<double>(cycles[1]) / static_cast<double>(cycles[0]);
  RecordProperty("cycle_ratio", std::to_string(cycle_ratio));
  EXPECT_GE(cycle_ratio, 1.6) << cycles[0] << " vs " << cycles[1] << " cycles";
  EXPECT_LE(cycle_ratio, 2.4) << cycles[0] << " vs " << cycles[1] << " cycles";
}

TEST(MeasureModel, RefusesOptionsWithoutATimingModel) {
  QATLAB_REQUIRE_FIRMWARE(QATLAB_FIRMWARE_MPS2_AN386);
  EmulatedBoard board = Boot();
  ASSERT_TRUE(board.client);
  MeasurementOptions options;  // timing_model left empty
  MeasurementInputs inputs;
  inputs.inputs = SeededInputs(1, 784, 71);
  StatusOr<v1::MeasurementResult> result = MeasureModel(*board.client, Write(SeededCnnModel(72)), inputs, options);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qatlab
