// Models in and out: `qatctl models upload|ls` (trained float ONNX models for
// jobs to start from) and `qatctl export` (a job's integer model as a file or
// a directory other tools consume).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "client/output_files.h"
#include "client/qatctl_commands.h"
#include "client/result_view.h"
#include "client/text_table.h"
#include "digest/sha256.h"
#include "server_client/chunked_upload.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

constexpr size_t kModelUploadChunkBytes = 256 * 1024;

std::string InputShapeText(const v1::Model& model) {
  return fmt::format("{}x{}x{}", model.input_height(), model.input_width(), model.input_channels());
}

void PrintModelTable(const v1::ListModelsResponse& response) {
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"NAME", "INPUT (HWC)", "CLASSES", "LAYERS", "PARAMETERS", "OPSET", "SIZE", "SHA256", "CREATED"},
                   {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
                    Align::kRight, Align::kLeft, Align::kLeft});
  for (const v1::Model& model : response.models()) {
    table.AddRow({model.name(), InputShapeText(model), std::to_string(model.num_classes()),
                  std::to_string(model.layer_count()), std::to_string(model.parameters()),
                  std::to_string(model.opset()), FormatKilobytes(model.size()), model.sha256().substr(0, 16),
                  FormatUnixMillis(model.created_unix_ms())});
  }
  fmt::print("{}", table.Render());
}

// One file of an export stream, checked against what its first chunk
// announced.
struct ReceivedFile {
  OutputFile file;
  int64_t announced_size = 0;
  std::string announced_sha256;
};

Status CheckReceived(const ReceivedFile& received) {
  const auto size = static_cast<int64_t>(received.file.contents.size());
  if (size != received.announced_size) {
    return Status::Corruption(fmt::format("export file {}: received {} bytes, the server announced {}",
                                          received.file.name, size, received.announced_size));
  }
  if (Sha256Hex(received.file.contents) != received.announced_sha256) {
    return Status::Corruption(
        fmt::format("export file {}: the bytes received do not have the announced sha256", received.file.name));
  }
  return Status::Ok();
}

}  // namespace

int QatctlCommands::ListModels() {
  return CallAndPrint(&v1::ExperimentService::Stub::ListModels, v1::ListModelsRequest(), PrintModelTable);
}

int QatctlCommands::UploadModel(const std::string& file, const std::string& name) {
  const std::string model_name = name.empty() ? std::filesystem::path(file).stem().string() : name;
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(fmt::format("IO_ERROR: cannot read {}", file));
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Fail(fmt::format("IO_ERROR: cannot read {}", file));
  const std::string contents = bytes.str();

  grpc::ClientContext context;
  Prepare(&context, false);
  v1::Model model;
  std::unique_ptr<grpc::ClientWriter<v1::UploadModelRequest>> writer = stub_->UploadModel(&context, &model);
  v1::UploadModelRequest header;
  header.mutable_header()->set_name(model_name);
  header.mutable_header()->set_sha256(Sha256Hex(contents));
  header.mutable_header()->set_size(static_cast<int64_t>(contents.size()));
  grpc::Status status = UploadInChunks(*writer, header, contents, kModelUploadChunkBytes);
  if (!status.ok()) return FailRpc(status);
  if (options_.json) return PrintJson(model);
  fmt::print("uploaded model {} (input {}, {} classes, {} layers, {}, sha256 {}); use it as \"model:{}\"\n",
             model.name(), InputShapeText(model), model.num_classes(), model.layer_count(),
             FormatKilobytes(model.size()), model.sha256(), model.name());
  return 0;
}

int QatctlCommands::Export(const ExportFlags& flags) {
  const bool directory = flags.format == "c";
  const bool to_stdout = flags.output == "-";
  if (directory && to_stdout) return Fail("INVALID_ARGUMENT: -o -: the c format writes a directory, not one stream");
  std::string path = flags.output;
  if (path.empty()) {
    path = directory ? fmt::format("{}-{}-c", flags.job_id, flags.variant)
                     : fmt::format("{}-{}.{}", flags.job_id, flags.variant, flags.format);
  }
  // Refused before the transfer; checked again, atomically, when it lands.
  if (!to_stdout) {
    if (Status free = CheckOutputFree(path, flags.force); !free.ok()) return Fail(DescribeStatus(free));
  }

  v1::ExportModelRequest request;
  request.set_job_id(flags.job_id);
  request.set_variant(flags.variant);
  request.set_format(flags.format);
  request.set_name(flags.name);
  grpc::ClientContext context;
  Prepare(&context, false);
  std::unique_ptr<grpc::ClientReader<v1::ExportChunk>> reader = stub_->ExportModel(&context, request);
  std::vector<ReceivedFile> received;
  v1::ExportChunk chunk;
  Status stream_error;
  while (reader->Read(&chunk)) {
    if (!chunk.file_name().empty()) {
      received.push_back({{chunk.file_name(), ""}, chunk.file_size(), chunk.sha256()});
    } else if (received.empty()) {
      stream_error = Status::Corruption("export stream: data came before any file's name");
      context.TryCancel();
      break;
    }
    received.back().file.contents += chunk.data();
  }
  grpc::Status status = reader->Finish();
  if (!stream_error.ok()) return Fail(DescribeStatus(stream_error));
  if (!status.ok()) return FailRpc(status);
  std::vector<OutputFile> files;
  for (ReceivedFile& file : received) {
    if (Status checked = CheckReceived(file); !checked.ok()) return Fail(DescribeStatus(checked));
    files.push_back(std::move(file.file));
  }
  if (!directory && files.size() != 1) {
    return Fail(fmt::format("DATA_LOSS: the {} export came as {} files, expected one", flags.format, files.size()));
  }

  if (to_stdout) {
    std::fwrite(files[0].contents.data(), 1, files[0].contents.size(), stdout);
    return 0;
  }
  Status written = directory ? WriteDirectoryAtomically(path, files, flags.force)
                             : WriteFileAtomically(path, files[0].contents, flags.force);
  if (!written.ok()) return Fail(DescribeStatus(written));
  if (directory) {
    std::vector<std::string> names;
    for (const OutputFile& file : files) names.push_back(file.name);
    fmt::print(stderr, "wrote {}/ ({})\n", path, fmt::join(names, ", "));
  } else {
    fmt::print(stderr, "wrote {} ({} bytes, sha256 {})\n", path, files[0].contents.size(),
               Sha256Hex(files[0].contents));
  }
  return 0;
}

}  // namespace qatlab
