#include "device_agent/dut_client.h"

#include "qatlab_kernels/qmodel.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace qatlab {
namespace {

using Clock = std::chrono::steady_clock;

// One handshake attempt: the board answers name% in milliseconds, and gives
// up on an unfinished binary payload after 500 ms of silence.
constexpr std::chrono::milliseconds kResyncTimeout{1500};

std::string Hex32(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof(text), "%08x", value);
  return text;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Shows a reply in an error message: printable, bounded.
std::string Quote(const std::string& text, size_t max = 160) {
  std::string out;
  for (char c : text.substr(0, max)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u >= 32 && u < 127) ? c : '?';
  }
  if (text.size() > max) out += "...";
  return "'" + out + "'";
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : " | ") + line;
  return out;
}

template <typename Int>
bool ParseInt(const std::string& text, Int* value) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, *value);
  return error == std::errc() && ptr == end;
}

// The board refused: map its e-[...] text to a code that says what kind of
// refusal it is.
Status BoardError(const std::string& command, const std::string& error) {
  std::string message = command + ": board replied e-[" + error + "]";
  if (error.find("exceeds") != std::string::npos || error.find("needs") != std::string::npos) {
    return Status::ResourceExhausted(message);
  }
  if (error.find("crc") != std::string::npos) return Status::Corruption(message);
  if (error.find("usage") != std::string::npos || error.find("Unknown command") != std::string::npos ||
      error.find("must be") != std::string::npos) {
    return Status::InvalidArgument(message);
  }
  return Status::FailedPrecondition(message);
}

// Finds "<prefix><value>" among the reply lines.
StatusOr<std::string> FindValue(const DutClient::Reply& reply, const std::string& command, const std::string& prefix) {
  for (const std::string& line : reply.lines) {
    if (StartsWith(line, prefix)) return line.substr(prefix.size());
  }
  return Status::Corruption(command + ": reply has no '" + prefix + "...' line; got " + Quote(JoinLines(reply.lines)));
}

template <typename Int>
StatusOr<Int> FindInt(const DutClient::Reply& reply, const std::string& command, const std::string& prefix) {
  QATLAB_ASSIGN_OR_RETURN(std::string text, FindValue(reply, command, prefix));
  Int value{};
  if (!ParseInt(text, &value)) {
    return Status::Corruption(command + ": '" + prefix + "' carries " + Quote(text) + ", not a number");
  }
  return value;
}

// "[a,b,c]" → the items between the brackets.
StatusOr<std::vector<std::string>> BracketList(const std::string& text, const std::string& what) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') {
    return Status::Corruption(what + ": expected [..], got " + Quote(text));
  }
  std::vector<std::string> items;
  std::string inner = text.substr(1, text.size() - 2);
  if (inner.empty()) return items;
  size_t start = 0;
  while (true) {
    size_t comma = inner.find(',', start);
    items.push_back(inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

StatusOr<std::vector<float>> ParseScores(const std::string& text, const std::string& what) {
  QATLAB_ASSIGN_OR_RETURN(std::vector<std::string> items, BracketList(text, what));
  std::vector<float> scores;
  for (const std::string& item : items) {
    char* end = nullptr;
    float value = std::strtof(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size()) {
      return Status::Corruption(what + ": score " + Quote(item) + " is not a number");
    }
    scores.push_back(value);
  }
  return scores;
}

}  // namespace

uint32_t Crc32(std::span<const uint8_t> data) {
  // The firmware checks uploads with the kernels' CRC-32; so does this side.
  return qk_crc32(0, data.data(), static_cast<uint32_t>(data.size()));
}

StatusOr<std::unique_ptr<DutClient>> DutClient::Connect(SerialPort& port, const DutClientOptions& options) {
  if (options.max_send_attempts < 1 || options.handshake_attempts < 1) {
    return Status::InvalidArgument("DutClient: max_send_attempts and handshake_attempts must be >= 1");
  }
  std::unique_ptr<DutClient> client(new DutClient(port, options));
  QATLAB_RETURN_IF_ERROR(client->Handshake(options.handshake_attempts));
  QATLAB_ASSIGN_OR_RETURN(BoardInfo info, client->Info());
  if (info.protocol_version != 1) {
    return Status::FailedPrecondition("board on " + port.Name() + " speaks protocol " +
                                      std::to_string(info.protocol_version) + ", this host speaks 1");
  }
  return client;
}

Status DutClient::Handshake(int attempts) {
  Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    DiscardPendingInput();
    // '%' ends whatever partial command garbage left in the board's buffer;
    // its lone m-ready is skipped below along with anything else stale.
    static const std::string kProbe = "%name%";
    Status written =
        port_.Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kProbe.data()), kProbe.size()));
    if (!written.ok()) {
      link_lost_ = true;
      return written.WithContext("handshake with the board on " + port_.Name());
    }
    Clock::time_point deadline = Clock::now() + kResyncTimeout;
    std::string name;
    // The board was inside a binary payload and took the probe as payload
    // bytes; it has just given up on that payload, so probe again at once.
    bool payload_ended = false;
    while (true) {
      StatusOr<std::string> line = ReadLine(deadline, "handshake (name%)");
      if (!line.ok()) {
        if (link_lost_) return line.status();
        last = line.status();
        break;
      }
      if (StartsWith(*line, "m-name-dut-[") && line->back() == ']') {
        name = line->substr(12, line->size() - 13);
      } else if (StartsWith(*line, "e-[") && line->find("timeout after") != std::string::npos) {
        payload_ended = true;
      } else if (*line == "m-ready" && !name.empty()) {
        info_.name = name;
        return Status::Ok();
      } else if (*line == "m-ready" && payload_ended) {
        last = Status::Unavailable("the probe was taken as the rest of a binary payload");
        break;
      }
    }
  }
  return Status::Unavailable("no answer to name% from the board on " + port_.Name() + " after " +
                             std::to_string(attempts) + " attempts (last: " + last.message() + ")");
}

Status DutClient::Resync() {
  Status synced = Handshake(options_.handshake_attempts);
  return synced.WithContext("resync");
}

void DutClient::DiscardPendingInput() {
  received_.clear();
  uint8_t buffer[512];
  // Bounded: a board that talks without pause cannot keep us here.
  for (int i = 0; i < 64; ++i) {
    StatusOr<size_t> n = port_.Read(buffer, std::chrono::milliseconds(0));
    if (!n.ok() || *n == 0) return;
  }
}

StatusOr<std::string> DutClient::ReadLine(Clock::time_point deadline, const std::string& waiting_for) {
  uint8_t buffer[512];
  while (true) {
    size_t newline = received_.find('\n');
    if (newline != std::string::npos) {
      std::string line = received_.substr(0, newline);
      received_.erase(0, newline + 1);
      while (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Unavailable(waiting_for + ": no complete reply line from the board on " + port_.Name() +
                                 " in time" + (received_.empty() ? "" : "; partial line " + Quote(received_)));
    }
    StatusOr<size_t> n = port_.Read(buffer, left);
    if (!n.ok()) {
      link_lost_ = true;
      return n.status().WithContext(waiting_for);
    }
    received_.append(reinterpret_cast<const char*>(buffer), *n);
  }
}

StatusOr<DutClient::Reply> DutClient::Command(const std::string& command, std::span<const uint8_t> payload,
                                              std::chrono::milliseconds timeout) {
  StatusOr<Reply> reply = CommandOnce(command, payload, timeout);
  if (!reply.ok() || !IsGarbageReply(*reply, command)) return reply;
  // Noise on the line got in first: the reply belongs to it (or our command
  // was merged into it). Get back in step and ask once more.
  QATLAB_RETURN_IF_ERROR(Resync().WithContext(command + " after garbage on the line"));
  return CommandOnce(command, payload, timeout);
}

bool DutClient::IsGarbageReply(const Reply& reply, const std::string& command) {
  if (reply.error.find("Command buffer overflow") != std::string::npos) return true;
  static const std::string kUnknown = "Unknown command: ";
  // A command the board really does not know comes back verbatim.
  return StartsWith(reply.error, kUnknown) && reply.error.substr(kUnknown.size()) != command;
}

StatusOr<DutClient::Reply> DutClient::CommandOnce(const std::string& command, std::span<const uint8_t> payload,
                                                  std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) timeout = options_.command_timeout;
  DiscardPendingInput();
  std::vector<uint8_t> bytes(command.begin(), command.end());
  bytes.push_back('%');
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  Status written = port_.Write(bytes);
  if (!written.ok()) {
    link_lost_ = true;
    return written.WithContext(command);
  }

  Clock::time_point deadline = Clock::now() + timeout;
  Reply reply;
  while (true) {
    StatusOr<std::string> line = ReadLine(deadline, command);
    if (!line.ok()) {
      if (!reply.lines.empty() && line.status().code() == StatusCode::kUnavailable) {
        return Status::Unavailable(line.status().message() + "; lines so far " + Quote(JoinLines(reply.lines)));
      }
      return line.status();
    }
    if (line->empty()) continue;
    if (*line == "m-ready") return reply;
    if (*line == "m-init-done") {
      info_.model_loaded = false;
      return Status::Unavailable(command + ": the board rebooted while answering (boot banner seen)");
    }
    if (StartsWith(*line, "e-[")) {
      std::string text = line->substr(3);
      if (!text.empty() && text.back() == ']') text.pop_back();
      if (reply.error.empty()) reply.error = text;
      continue;
    }
    reply.lines.push_back(*line);
  }
}

StatusOr<BoardInfo> DutClient::Info() {
  static const std::string kCommand = "qm-info";
  QATLAB_ASSIGN_OR_RETURN(Reply reply, Command(kCommand));
  if (!reply.error.empty()) return BoardError(kCommand, reply.error);
  std::map<std::string, std::string> values;
  for (const std::string& line : reply.lines) {
    static const std::string kPrefix = "m-qm-info-";
    if (!StartsWith(line, kPrefix)) continue;
    size_t equals = line.find('=');
    if (equals == std::string::npos) continue;
    values[line.substr(kPrefix.size(), equals - kPrefix.size())] = line.substr(equals + 1);
  }
  BoardInfo info;
  info.name = info_.name;
  auto text = [&](const char* key, std::string* out) -> Status {
    auto it = values.find(key);
    if (it == values.end()) {
      return Status::Corruption("qm-info: no '" + std::string(key) + "' in the reply " + Quote(JoinLines(reply.lines)));
    }
    *out = it->second;
    return Status::Ok();
  };
  auto number = [&](const char* key, auto* out) -> Status {
    std::string value;
    QATLAB_RETURN_IF_ERROR(text(key, &value));
    if (!ParseInt(value, out)) {
      return Status::Corruption("qm-info: '" + std::string(key) + "' is " + Quote(value) + ", not a number");
    }
    return Status::Ok();
  };
  std::string loaded;
  QATLAB_RETURN_IF_ERROR(text("board", &info.board));
  QATLAB_RETURN_IF_ERROR(text("core", &info.core));
  QATLAB_RETURN_IF_ERROR(number("clock_hz", &info.clock_hz));
  QATLAB_RETURN_IF_ERROR(number("flash_bytes", &info.flash_bytes));
  QATLAB_RETURN_IF_ERROR(number("ram_bytes", &info.ram_bytes));
  QATLAB_RETURN_IF_ERROR(text("kernels", &info.kernel_variant));
  QATLAB_RETURN_IF_ERROR(text("firmware", &info.firmware_version));
  QATLAB_RETURN_IF_ERROR(number("protocol", &info.protocol_version));
  QATLAB_RETURN_IF_ERROR(text("cycle_counter", &info.cycle_counter));
  QATLAB_RETURN_IF_ERROR(number("model_capacity", &info.model_capacity));
  QATLAB_RETURN_IF_ERROR(number("arena_capacity", &info.arena_capacity));
  QATLAB_RETURN_IF_ERROR(number("input_capacity", &info.input_capacity));
  QATLAB_RETURN_IF_ERROR(number("chunk_max", &info.chunk_max));
  QATLAB_RETURN_IF_ERROR(number("infer_max", &info.infer_max));
  QATLAB_RETURN_IF_ERROR(text("model", &loaded));
  // Keys added later (protocol 1 allows new keys): absent from older images.
  if (values.count("clock_model")) info.clock_model = values["clock_model"];
  if (values.count("baud")) QATLAB_RETURN_IF_ERROR(number("baud", &info.baud));
  if (values.count("model_source")) info.model_source = values["model_source"];
  if (values.count("model_bytes")) QATLAB_RETURN_IF_ERROR(number("model_bytes", &info.model_bytes));
  if (values.count("stack_bytes")) QATLAB_RETURN_IF_ERROR(number("stack_bytes", &info.stack_bytes));
  if (values.count("stack_peak")) QATLAB_RETURN_IF_ERROR(number("stack_peak", &info.stack_peak));
  if (values.count("slot_bytes")) QATLAB_RETURN_IF_ERROR(number("slot_bytes", &info.slot_bytes));
  if (values.count("model_crc")) {
    const std::string& crc = values["model_crc"];
    char* end = nullptr;
    unsigned long parsed = std::strtoul(crc.c_str(), &end, 16);
    if (crc.empty() || crc.size() > 8 || *end != '\0') {
      return Status::Corruption("qm-info: 'model_crc' is " + Quote(crc) + ", not 8 hex digits");
    }
    info.model_crc = static_cast<uint32_t>(parsed);
  }
  info.model_loaded = loaded == "loaded";
  if (info.chunk_max < 1 || info.model_capacity < 1 || info.infer_max < 1) {
    return Status::Corruption("qm-info: chunk_max, model_capacity and infer_max must be >= 1; got " +
                              Quote(JoinLines(reply.lines)));
  }
  info_ = info;
  return info;
}

StatusOr<DutClient::Reply> DutClient::SendAcknowledged(const std::string& command, std::span<const uint8_t> payload,
                                                       const std::string& ack_prefix, int* resends) {
  std::string last_problem;
  for (int attempt = 0; attempt < options_.max_send_attempts; ++attempt) {
    if (attempt > 0) ++*resends;
    StatusOr<Reply> reply = Command(command, payload);
    if (!reply.ok()) {
      // The link itself is gone: no retry will help.
      if (link_lost_ || reply.status().code() != StatusCode::kUnavailable) {
        return reply.status();
      }
      last_problem = reply.status().message();
      // Silence: the board may be waiting for payload bytes that were lost,
      // or its reply was lost. Get back in step, then resend.
      QATLAB_RETURN_IF_ERROR(Resync().WithContext(command));
      continue;
    }
    if (reply->error.empty()) {
      for (const std::string& line : reply->lines) {
        if (StartsWith(line, ack_prefix)) return reply;
      }
      last_problem = "no '" + ack_prefix + "' in the reply " + Quote(JoinLines(reply->lines));
      QATLAB_RETURN_IF_ERROR(Resync().WithContext(command));
      continue;
    }
    last_problem = "e-[" + reply->error + "]";
    // Damage in flight: the board consumed the payload and said so; resend.
    if (reply->error.find("crc mismatch") != std::string::npos ||
        reply->error.find("timeout after") != std::string::npos) {
      continue;
    }
    // Anything else (an unknown command: the text header itself was hit,
    // so the payload was read as commands) may leave stray replies: resync.
    if (reply->error.find("Unknown command") != std::string::npos ||
        reply->error.find("overflow") != std::string::npos) {
      QATLAB_RETURN_IF_ERROR(Resync().WithContext(command));
      continue;
    }
    return BoardError(command, reply->error);
  }
  return Status::Unavailable(command + ": not acknowledged after " + std::to_string(options_.max_send_attempts) +
                             " attempts; last problem: " + last_problem);
}

StatusOr<LoadedModel> DutClient::UploadModel(std::span<const uint8_t> model, UploadStats* stats) {
  if (model.empty()) return Status::InvalidArgument("UploadModel: the model is empty");
  if (static_cast<int64_t>(model.size()) > info_.model_capacity) {
    return Status::ResourceExhausted("UploadModel: model of " + std::to_string(model.size()) +
                                     " bytes exceeds the model buffer of " + std::to_string(info_.model_capacity) +
                                     " bytes on board " + info_.board + "; nothing sent");
  }
  int64_t chunk = options_.chunk_bytes > 0 ? std::min(options_.chunk_bytes, info_.chunk_max) : info_.chunk_max;
  int64_t count = (static_cast<int64_t>(model.size()) + chunk - 1) / chunk;
  UploadStats local;
  UploadStats& s = stats ? *stats : local;
  s = UploadStats{};
  s.bytes = static_cast<int64_t>(model.size());
  Clock::time_point start = Clock::now();
  info_.model_loaded = false;

  std::string begin =
      "qm-begin " + std::to_string(model.size()) + " " + Hex32(Crc32(model)) + " " + std::to_string(chunk);
  QATLAB_ASSIGN_OR_RETURN(Reply begun, Command(begin));
  if (!begun.error.empty()) return BoardError("qm-begin", begun.error);
  QATLAB_ASSIGN_OR_RETURN(int64_t chunks, FindInt<int64_t>(begun, "qm-begin", "m-qm-begin-chunks="));
  if (chunks != count) {
    return Status::Corruption("qm-begin: board expects " + std::to_string(chunks) + " chunks, the host counts " +
                              std::to_string(count));
  }

  for (int64_t seq = 0; seq < count; ++seq) {
    size_t offset = static_cast<size_t>(seq * chunk);
    std::span<const uint8_t> piece = model.subspan(offset, std::min<size_t>(chunk, model.size() - offset));
    std::string command =
        "qm-chunk " + std::to_string(seq) + " " + std::to_string(piece.size()) + " " + Hex32(Crc32(piece));
    StatusOr<Reply> acked = SendAcknowledged(command, piece, "m-qm-ack-" + std::to_string(seq), &s.resent_chunks);
    if (!acked.ok())
      return acked.status().WithContext("UploadModel chunk " + std::to_string(seq) + " of " + std::to_string(count));
    ++s.chunks;
  }

  QATLAB_ASSIGN_OR_RETURN(Reply ended, Command("qm-end"));
  if (!ended.error.empty()) return BoardError("qm-end", ended.error);
  LoadedModel loaded;
  for (auto [prefix, field] :
       {std::pair{"m-qm-model-input_bytes=", &loaded.input_bytes},
        std::pair{"m-qm-model-output_bytes=", &loaded.output_bytes},
        std::pair{"m-qm-model-arena_bytes=", &loaded.arena_bytes}, std::pair{"m-qm-model-ops=", &loaded.ops}}) {
    QATLAB_ASSIGN_OR_RETURN(int64_t value, FindInt<int64_t>(ended, "qm-end", prefix));
    *field = value;
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  info_.model_loaded = true;
  return loaded;
}

Status DutClient::SetInput(std::span<const int8_t> input) {
  if (input.empty()) return Status::InvalidArgument("SetInput: the input is empty");
  if (static_cast<int64_t>(input.size()) > info_.input_capacity) {
    return Status::ResourceExhausted("SetInput: input of " + std::to_string(input.size()) +
                                     " bytes exceeds the input buffer of " + std::to_string(info_.input_capacity) +
                                     " bytes");
  }
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  std::string command = "qm-input " + std::to_string(bytes.size()) + " " + Hex32(Crc32(bytes));
  int resends = 0;
  QATLAB_ASSIGN_OR_RETURN(Reply reply, SendAcknowledged(command, bytes, "m-qm-input-bytes=", &resends));
  if (!reply.error.empty()) return BoardError("qm-input", reply.error);
  return Status::Ok();
}

StatusOr<InferenceOutput> DutClient::Output() {
  static const std::string kCommand = "qm-output";
  QATLAB_ASSIGN_OR_RETURN(Reply reply,
                          Command(kCommand, {}, options_.command_timeout + options_.per_inference_timeout));
  if (!reply.error.empty()) return BoardError(kCommand, reply.error);
  QATLAB_ASSIGN_OR_RETURN(std::string list, FindValue(reply, kCommand, "m-qm-output-"));
  QATLAB_ASSIGN_OR_RETURN(std::vector<std::string> items, BracketList(list, kCommand));
  InferenceOutput output;
  for (const std::string& item : items) {
    int value = 0;
    if (!ParseInt(item, &value) || value < -128 || value > 127) {
      return Status::Corruption("qm-output: logit " + Quote(item) + " is not an int8");
    }
    output.logits.push_back(static_cast<int8_t>(value));
  }
  QATLAB_ASSIGN_OR_RETURN(int argmax, FindInt<int>(reply, kCommand, "m-qm-argmax-"));
  QATLAB_ASSIGN_OR_RETURN(uint64_t cycles, FindInt<uint64_t>(reply, kCommand, "m-qm-cycles-"));
  output.argmax = argmax;
  output.cycles = cycles;
  return output;
}

StatusOr<CycleStats> DutClient::Infer(int count) {
  if (count < 1 || count > info_.infer_max) {
    return Status::InvalidArgument("qm-infer: count " + std::to_string(count) + " is outside 1.." +
                                   std::to_string(info_.infer_max));
  }
  std::string command = "qm-infer " + std::to_string(count);
  QATLAB_ASSIGN_OR_RETURN(Reply reply,
                          Command(command, {}, options_.command_timeout + options_.per_inference_timeout * count));
  if (!reply.error.empty()) return BoardError(command, reply.error);
  CycleStats stats;
  QATLAB_ASSIGN_OR_RETURN(int n, FindInt<int>(reply, command, "m-qm-infer-count="));
  stats.count = n;
  for (auto [prefix, field] :
       {std::pair{"m-qm-infer-min=", &stats.min}, std::pair{"m-qm-infer-median=", &stats.median},
        std::pair{"m-qm-infer-max=", &stats.max}, std::pair{"m-qm-infer-total=", &stats.total}}) {
    QATLAB_ASSIGN_OR_RETURN(uint64_t value, FindInt<uint64_t>(reply, command, prefix));
    *field = value;
  }
  if (stats.count != count) {
    return Status::Corruption(command + ": board ran " + std::to_string(stats.count) + " inferences");
  }
  return stats;
}

Status DutClient::SaveModelToSlot(const std::string& id) {
  if (id.empty() || id.size() > 15 || id.find_first_of(" %;") != std::string::npos) {
    return Status::InvalidArgument("SaveModelToSlot: the id must be 1..15 characters without spaces, '%' or ';', got " +
                                   Quote(id));
  }
  const std::string command = "qm-slot-save " + id;
  // Erasing and programming real flash takes seconds (an STM32F4 sector
  // erase: up to 2 s per 128 KiB).
  QATLAB_ASSIGN_OR_RETURN(Reply reply, Command(command, {}, options_.command_timeout + std::chrono::seconds(30)));
  if (!reply.error.empty()) return BoardError(command, reply.error);
  QATLAB_RETURN_IF_ERROR(FindValue(reply, command, "m-qm-slot-saved-bytes=").status());
  return Info().status();
}

Status DutClient::EraseSlot() {
  static const std::string kCommand = "qm-slot-erase";
  QATLAB_ASSIGN_OR_RETURN(Reply reply, Command(kCommand, {}, options_.command_timeout + std::chrono::seconds(30)));
  if (!reply.error.empty()) return BoardError(kCommand, reply.error);
  return Info().status();
}

Status DutClient::ResetBoard() {
  static const std::string kCommand = "qm-reset%";
  Status written =
      port_.Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kCommand.data()), kCommand.size()));
  if (!written.ok()) {
    link_lost_ = true;
    return written.WithContext("qm-reset");
  }
  QATLAB_RETURN_IF_ERROR(Handshake(options_.handshake_attempts).WithContext("after qm-reset"));
  return Info().status();
}

StatusOr<std::vector<LayerCycles>> DutClient::Layers() {
  static const std::string kCommand = "qm-layers";
  QATLAB_ASSIGN_OR_RETURN(Reply reply, Command(kCommand));
  if (!reply.error.empty()) return BoardError(kCommand, reply.error);
  std::vector<LayerCycles> layers;
  for (const std::string& line : reply.lines) {
    static const std::string kPrefix = "m-qm-layer-";
    if (!StartsWith(line, kPrefix)) continue;
    // m-qm-layer-<index>-<op kind>-<cycles>
    std::string rest = line.substr(kPrefix.size());
    size_t first = rest.find('-');
    size_t second = first == std::string::npos ? first : rest.find('-', first + 1);
    LayerCycles layer;
    if (second == std::string::npos || !ParseInt(rest.substr(0, first), &layer.index) ||
        !ParseInt(rest.substr(first + 1, second - first - 1), &layer.op_kind) ||
        !ParseInt(rest.substr(second + 1), &layer.cycles)) {
      return Status::Corruption("qm-layers: malformed line " + Quote(line));
    }
    layers.push_back(layer);
  }
  return layers;
}

StatusOr<MlperfWindow> DutClient::MlperfInfer(int count, int warmup) {
  if (count < 1 || warmup < 0) {
    return Status::InvalidArgument("infer: needs N >= 1 and W >= 0, got " + std::to_string(count) + " " +
                                   std::to_string(warmup));
  }
  std::string command = "infer " + std::to_string(count) + " " + std::to_string(warmup);
  StatusOr<Reply> reply =
      Command(command, {}, options_.command_timeout + options_.per_inference_timeout * (count + warmup));
  if (!reply.ok()) return reply.status();
  if (!reply->error.empty()) return BoardError(command, reply->error);
  MlperfWindow window;
  window.warmup = warmup;
  window.inferences = count;
  std::vector<uint64_t> laps;
  bool done = false;
  for (const std::string& line : reply->lines) {
    if (StartsWith(line, "m-lap-us-")) {
      uint64_t us = 0;
      if (!ParseInt(line.substr(9), &us)) return Status::Corruption(command + ": bad lap " + Quote(line));
      laps.push_back(us);
    } else if (line == "m-infer-done") {
      done = true;
    } else if (StartsWith(line, "m-results-")) {
      QATLAB_ASSIGN_OR_RETURN(std::vector<float> scores, ParseScores(line.substr(10), command));
      window.results = std::move(scores);
    }
  }
  if (laps.size() != 2 || !done) {
    return Status::Corruption(command + ": expected two m-lap-us lines and m-infer-done; got " +
                              Quote(JoinLines(reply->lines), 400));
  }
  window.start_us = laps[0];
  window.end_us = laps[1];
  return window;
}

StatusOr<std::vector<float>> DutClient::MlperfResults() {
  static const std::string kCommand = "results";
  QATLAB_ASSIGN_OR_RETURN(Reply reply, Command(kCommand));
  if (!reply.error.empty()) return BoardError(kCommand, reply.error);
  QATLAB_ASSIGN_OR_RETURN(std::string list, FindValue(reply, kCommand, "m-results-"));
  return ParseScores(list, kCommand);
}

StatusOr<LinkThroughput> DutClient::RawThroughput(int64_t bytes) {
  if (bytes < 1 || bytes > 16 * 1024 * 1024) {
    return Status::InvalidArgument("qm-raw: " + std::to_string(bytes) + " bytes is outside 1..16 MiB");
  }
  // Patterned, not zero, and without '%' so a lost sync cannot turn the
  // payload into commands.
  std::vector<uint8_t> payload(static_cast<size_t>(bytes));
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>('A' + i % 26);
  std::string command = "qm-raw " + std::to_string(bytes);
  // 1 KB/s is far below any working link; beyond that the board is gone.
  auto timeout = options_.command_timeout + std::chrono::milliseconds(bytes);
  Clock::time_point start = Clock::now();
  QATLAB_ASSIGN_OR_RETURN(Reply reply,
                          Command(command, payload, std::chrono::duration_cast<std::chrono::milliseconds>(timeout)));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!reply.error.empty()) return BoardError(command, reply.error);
  QATLAB_ASSIGN_OR_RETURN(int64_t received, FindInt<int64_t>(reply, command, "m-qm-raw-bytes="));
  if (received != bytes) {
    return Status::Corruption(command + ": board counted " + std::to_string(received) + " bytes");
  }
  LinkThroughput result;
  result.bytes = bytes;
  result.seconds = seconds;
  result.bytes_per_second = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  return result;
}

}  // namespace qatlab
