// The host end of the board protocol (docs/protocol.md): the MLPerf Tiny DUT
// commands plus qatlab's `qm-` commands, over any SerialPort — a USB-UART to a
// real board or the pty of a QemuBoard.
//
// Every read is bounded by a timeout. Errors name the command and what came
// back. A board that stops answering or whose link is gone gives Unavailable;
// a board that refuses a request gives the board's own `e-[...]` text in the
// message (FailedPrecondition, InvalidArgument or ResourceExhausted as fits).
//
// Thread safety: one caller at a time (the protocol is strictly
// request/reply).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "device_agent/serial_port.h"
#include "status/status.h"

namespace qatlab {

// What `qm-info%` reports, plus the `name%` reply.
struct BoardInfo {
  std::string name;   // "qatlab-mps2-an386"
  std::string board;  // "mps2-an386"
  std::string core;   // "cortex-m4"
  uint32_t clock_hz = 0;
  int64_t flash_bytes = 0;
  int64_t ram_bytes = 0;
  std::string kernel_variant;  // "reference" | "cortex-m-dsp"
  std::string firmware_version;
  int protocol_version = 0;
  std::string cycle_counter;   // "systick" | "dwt"
  std::string clock_model;     // "qemu-icount" | "dwt-cyccnt"; empty from firmware before it
  int64_t baud = 0;            // the UART's rate; 0 from firmware before it
  int64_t model_capacity = 0;  // bytes of the model buffer
  int64_t arena_capacity = 0;  // bytes of the activation arena
  int64_t input_capacity = 0;
  int64_t chunk_max = 0;  // largest qm-chunk payload
  int64_t infer_max = 0;  // largest N of qm-infer
  bool model_loaded = false;
  // The loaded model (keys added with models in flash; from older firmware
  // "" and 0): "upload" or "flash", its .qmodel size and CRC-32 (Crc32).
  std::string model_source;
  int64_t model_bytes = 0;
  uint32_t model_crc = 0;
  // The stack: bytes it may grow into and its deepest use since reset (0
  // from firmware before the keys).
  int64_t stack_bytes = 0;
  int64_t stack_peak = 0;
  // Bytes of the model slot a host may program (SaveModelToSlot); 0 when
  // the board has none or its firmware predates the slot.
  int64_t slot_bytes = 0;
};

// What `qm-end%` reports about the model it opened.
struct LoadedModel {
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
  int64_t arena_bytes = 0;
  int64_t ops = 0;
};

struct UploadStats {
  int64_t bytes = 0;
  int chunks = 0;
  int resent_chunks = 0;  // chunks sent more than once (CRC error, timeout, lost reply)
  double seconds = 0;     // qm-begin to qm-end's reply
};

struct InferenceOutput {
  std::vector<int8_t> logits;
  int argmax = -1;
  uint64_t cycles = 0;
};

struct CycleStats {
  int count = 0;
  uint64_t min = 0;
  uint64_t median = 0;  // the lower median for even counts (the board's rule)
  uint64_t max = 0;
  uint64_t total = 0;
};

struct LayerCycles {
  int index = 0;
  int op_kind = 0;  // numeric op kind of the .qmodel record (IntegerOpKind)
  uint64_t cycles = 0;
};

// One MLPerf Tiny `infer N W%` window.
struct MlperfWindow {
  int warmup = 0;
  int inferences = 0;
  uint64_t start_us = 0;  // m-lap-us before the N inferences
  uint64_t end_us = 0;    // m-lap-us after them
  std::vector<float> results;
};

struct LinkThroughput {
  int64_t bytes = 0;
  double seconds = 0;
  double bytes_per_second = 0;
};

struct DutClientOptions {
  // How long an ordinary command may take to end with m-ready.
  std::chrono::milliseconds command_timeout{5000};
  // Added to the timeout of commands that run inferences, per inference.
  std::chrono::milliseconds per_inference_timeout{1000};
  // Model chunk payload; 0 = the board's chunk_max.
  int64_t chunk_bytes = 0;
  // A chunk (or input) that is not acknowledged is sent at most this often.
  int max_send_attempts = 5;
  // Connect() tries this often to get a `name%` answer (a board may reboot
  // when its port is opened, or be in the middle of a binary payload).
  int handshake_attempts = 5;
};

class DutClient {
 public:
  // Handshakes (`%` then `name%`, skipping a boot banner and any garbage) and
  // reads `qm-info%`. `port` is not owned and must outlive the client.
  static StatusOr<std::unique_ptr<DutClient>> Connect(SerialPort& port, const DutClientOptions& options = {});

  // From the handshake; refreshed by Info().
  const BoardInfo& board() const { return info_; }

  // True once the port reported the link gone (the emulator died, the cable
  // was pulled). Every later call fails with Unavailable.
  bool link_lost() const { return link_lost_; }

  StatusOr<BoardInfo> Info();

  // Uploads a .qmodel in acknowledged, CRC-checked binary chunks. A chunk the
  // board rejects or does not acknowledge is resent up to max_send_attempts
  // times, then the upload fails; the board checks the whole-model CRC at
  // the end. A model larger than the board's model buffer is refused here,
  // before anything is sent (ResourceExhausted); one that needs more arena or
  // input than the board has is refused by the board (ResourceExhausted).
  StatusOr<LoadedModel> UploadModel(std::span<const uint8_t> model, UploadStats* stats = nullptr);

  // Sets the int8 input tensor (binary, CRC-checked, resent like a chunk).
  Status SetInput(std::span<const int8_t> input);

  // `qm-output%`: one inference on the current input.
  StatusOr<InferenceOutput> Output();

  // `qm-infer N%`: N back-to-back inferences; cycle statistics.
  StatusOr<CycleStats> Infer(int count);

  // `qm-layers%`: cycles per op of the last inference.
  StatusOr<std::vector<LayerCycles>> Layers();

  // MLPerf Tiny `infer N W%` and `results%`.
  StatusOr<MlperfWindow> MlperfInfer(int count, int warmup);
  StatusOr<std::vector<float>> MlperfResults();

  // `qm-slot-save <id>%`: programs the uploaded model and `id` into the
  // board's model slot, which it then runs from and answers profile% with
  // from every boot (docs/protocol.md, "The model slot"). The board refuses
  // (FailedPrecondition) without a slot or an uploaded model, or when the
  // slot does not read back what was written. Refreshes board().
  Status SaveModelToSlot(const std::string& id);
  // `qm-slot-erase%`: the slot no longer holds a model. Refreshes board().
  Status EraseSlot();
  // `qm-reset%`: the board resets; returns once it answers again (the
  // handshake), with board() refreshed.
  Status ResetBoard();

  // `qm-raw <bytes>%`: times `bytes` raw bytes into the board's sink.
  StatusOr<LinkThroughput> RawThroughput(int64_t bytes);

  // Sends `command` + '%' (+ `payload` right after it) and returns the reply
  // lines before `m-ready`. A reply with an `e-[...]` line is still returned
  // here (see Reply::error); only a silent or vanished board is an error.
  // A reply that answers line noise instead (an unknown command that is not
  // `command`, a buffer overflow) triggers one Resync() and one resend.
  struct Reply {
    std::vector<std::string> lines;  // m- lines, without "\r\n"
    std::string error;               // the text inside e-[...], or empty
  };
  StatusOr<Reply> Command(const std::string& command, std::span<const uint8_t> payload = {},
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // Brings the board and the client back in step after a garbled or lost
  // reply: `%` + `name%`, then reads until the name reply and its m-ready.
  Status Resync();

 private:
  DutClient(SerialPort& port, const DutClientOptions& options) : port_(port), options_(options) {}

  Status Handshake(int attempts);
  StatusOr<Reply> CommandOnce(const std::string& command, std::span<const uint8_t> payload,
                              std::chrono::milliseconds timeout);
  // An e-[...] that answers line noise rather than `command`.
  static bool IsGarbageReply(const Reply& reply, const std::string& command);
  // Reads one line (without "\r\n"), or Unavailable at `deadline`.
  StatusOr<std::string> ReadLine(std::chrono::steady_clock::time_point deadline, const std::string& waiting_for);
  void DiscardPendingInput();
  // Sends a binary payload command (`qm-chunk`, `qm-input`) until the board
  // acknowledges it with a line starting `ack_prefix`.
  StatusOr<Reply> SendAcknowledged(const std::string& command, std::span<const uint8_t> payload,
                                   const std::string& ack_prefix, int* resends);

  SerialPort& port_;
  const DutClientOptions options_;
  BoardInfo info_;
  std::string received_;  // bytes read but not yet returned as lines
  // Set once a read or write on the port failed (not a mere timeout): the
  // link is gone and no retry or resync can help.
  bool link_lost_ = false;
};

// CRC-32 (IEEE 802.3, reflected; zlib's crc32), as the protocol uses.
uint32_t Crc32(std::span<const uint8_t> data);

}  // namespace qatlab
