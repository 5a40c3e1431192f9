#include "server/rpc/model_rpcs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "digest/sha256.h"
#include "model_import/onnx_inspector.h"
#include "server/rpc/blob_transfer.h"
#include "server/rpc/grpc_status.h"

namespace qatlab::server {

namespace {

std::string JoinNames(const std::vector<std::string>& names) {
  return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

// Stores `bytes` (already checked against their announced sha256) as a blob.
Status StoreBlob(ArtifactStore& artifacts, const std::string& sha256, const std::string& bytes, int64_t max_bytes) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer,
                          artifacts.BeginWrite(sha256, static_cast<int64_t>(bytes.size()), max_bytes));
  QATLAB_RETURN_IF_ERROR(writer->Append(bytes));
  return writer->Finish().status();
}

}  // namespace

Status CheckUploadName(const std::string& field, const std::string& name) {
  if (name.empty()) return Status::InvalidArgument(field + ": empty; give a name");
  if (name.size() > 128) return Status::InvalidArgument(field + ": longer than 128 characters");
  if (name.front() == '.') return Status::InvalidArgument(field + ": must not start with '.'");
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument(
          fmt::format("{}: '{}' may contain only letters, digits, '.', '_' and '-'", field, name));
    }
  }
  return Status::Ok();
}

StatusOr<v1::Model> DescribeUploadedModel(const std::string& name, const std::string& bytes) {
  // In a child process: libonnx crashes on some hostile models, and the
  // server must survive them (model_import/onnx_inspector.h).
  StatusOr<OnnxModelSummary> summary = InspectOnnxModelInChild(bytes);
  if (!summary.ok()) {
    // The inspector could not be run: the server's installation is at fault,
    // not the file.
    if (summary.status().code() != StatusCode::kInvalidArgument) return summary.status();
    // Whatever the importer answers, the file is what is wrong: the client
    // must send another one.
    return Status::InvalidArgument(fmt::format("model '{}' cannot be imported: {}", name, summary.status().message()));
  }
  v1::Model model;
  model.set_name(name);
  model.set_sha256(Sha256Hex(bytes));
  model.set_size(static_cast<int64_t>(bytes.size()));
  model.set_input_height(summary->input.height);
  model.set_input_width(summary->input.width);
  model.set_input_channels(summary->input.channels);
  model.set_num_classes(summary->num_classes);
  model.set_layer_count(summary->layer_count);
  model.set_parameters(summary->parameters);
  model.set_opset(summary->opset);
  return model;
}

StatusOr<std::vector<ExportedFile>> ExportJobVariant(ServiceDependencies& deps, const std::string& job_id,
                                                     const std::string& variant, const std::string& format,
                                                     const std::string& name) {
  if (job_id.empty()) return Status::InvalidArgument("job_id: empty; give a job id");
  if (variant.empty()) return Status::InvalidArgument("variant: empty; name a quantized variant, e.g. qat_w8a8");
  QATLAB_ASSIGN_OR_RETURN(ExportFormat export_format, ParseExportFormat(format));
  const std::string model_name = name.empty() ? variant : name;
  QATLAB_RETURN_IF_ERROR(CheckUploadName("name", model_name));

  QATLAB_ASSIGN_OR_RETURN(v1::Job job, deps.store.Get(job_id));
  if (job.state() != v1::SUCCEEDED) {
    std::string why = job.error().empty() ? "" : ": " + job.error();
    return Status::FailedPrecondition(fmt::format("job {} is {}{}; only a SUCCEEDED job has models to export", job_id,
                                                  v1::JobState_Name(job.state()), why));
  }
  QATLAB_ASSIGN_OR_RETURN(v1::JobResult result, deps.store.GetResult(job_id));
  std::vector<std::string> all, quantized;
  const v1::VariantResult* chosen = nullptr;
  for (const v1::VariantResult& v : result.variants()) {
    all.push_back(v.name());
    if (v.kind() != "float") quantized.push_back(v.name());
    if (v.name() == variant) chosen = &v;
  }
  if (chosen == nullptr) {
    return Status::NotFound(
        fmt::format("job {} has no variant '{}' (its variants: {})", job_id, variant, JoinNames(all)));
  }
  if (chosen->kind() == "float") {
    return Status::FailedPrecondition(fmt::format(
        "variant '{}' of job {} is the float model: it has no integer model to export (quantized variants: {})",
        variant, job_id, JoinNames(quantized)));
  }
  StatusOr<v1::Artifact> artifact = deps.catalogue.FindArtifact(job_id, variant + ".qmodel", "");
  if (!artifact.ok()) {
    if (artifact.status().code() != StatusCode::kNotFound) return artifact.status();
    return Status::FailedPrecondition(
        fmt::format("variant '{}' of job {} has no stored integer model ({}.qmodel)", variant, job_id, variant));
  }
  StatusOr<std::string> qmodel = deps.artifacts.ReadAll(artifact->sha256());
  if (!qmodel.ok()) {
    // The database knows the blob but the disk lost it: data loss, not absence.
    if (qmodel.status().code() == StatusCode::kNotFound) return Status::Corruption(qmodel.status().message());
    return qmodel.status();
  }
  StatusOr<std::vector<ExportedFile>> files = ExportModel(*qmodel, export_format, model_name);
  if (!files.ok()) {
    return files.status().WithContext(
        fmt::format("export of variant '{}' of job {} as {}", variant, job_id, ExportFormatName(export_format)));
  }
  return files;
}

namespace model_rpcs {

grpc::Status UploadModel(ServiceDependencies& deps, grpc::ServerReader<v1::UploadModelRequest>* reader,
                         v1::Model* response) {
  v1::UploadModelRequest first;
  if (!reader->Read(&first)) {
    return ToGrpcStatus(Status::InvalidArgument("upload: empty stream; send a header, then the model in chunks"));
  }
  if (first.part_case() != v1::UploadModelRequest::kHeader) {
    return ToGrpcStatus(Status::InvalidArgument("header: the first message of an upload must be the header"));
  }
  const v1::ModelHeader& header = first.header();
  if (Status s = CheckUploadName("header.name", header.name()); !s.ok()) return ToGrpcStatus(s);
  UploadAnnouncement announced;
  if (Status s = CheckUploadHeader(header.sha256(), header.size(), deps.limits.max_upload_bytes, &announced); !s.ok()) {
    return ToGrpcStatus(s);
  }
  // Models are immutable: refuse a clashing name before taking the bytes.
  if (StatusOr<v1::Model> existing = deps.catalogue.FindModel(header.name());
      existing.ok() && existing->sha256() != announced.sha256) {
    return ToGrpcStatus(Status::AlreadyExists(
        fmt::format("model '{}' already exists with different content (sha256 {}); models are immutable, "
                    "pick another name",
                    header.name(), existing->sha256())));
  }
  // The whole file is checked before anything is stored, so it is held in
  // memory (bounded by the upload limit): models are small next to data sets.
  StatusOr<std::string> bytes = ReceiveUploadInMemory(reader, announced, deps.limits.max_upload_bytes);
  if (!bytes.ok()) return ToGrpcStatus(bytes.status().WithContext("model " + header.name()));
  StatusOr<v1::Model> described = DescribeUploadedModel(header.name(), *bytes);
  if (!described.ok()) return ToGrpcStatus(described.status());
  if (Status s = StoreBlob(deps.artifacts, described->sha256(), *bytes, deps.limits.max_upload_bytes); !s.ok()) {
    return ToGrpcStatus(s.WithContext("model " + header.name()));
  }
  StatusOr<v1::Model> stored = deps.catalogue.RecordModel(*described);
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  *response = std::move(*stored);
  return grpc::Status::OK;
}

grpc::Status ListModels(ServiceDependencies& deps, v1::ListModelsResponse* response) {
  StatusOr<std::vector<v1::Model>> models = deps.catalogue.ListModels();
  if (!models.ok()) return ToGrpcStatus(models.status());
  for (v1::Model& model : *models) *response->add_models() = std::move(model);
  return grpc::Status::OK;
}

grpc::Status ExportModel(ServiceDependencies& deps, grpc::ServerContext* context, const v1::ExportModelRequest& request,
                         grpc::ServerWriter<v1::ExportChunk>* writer) {
  StatusOr<std::vector<ExportedFile>> files =
      ExportJobVariant(deps, request.job_id(), request.variant(), request.format(), request.name());
  if (!files.ok()) return ToGrpcStatus(files.status());
  for (const ExportedFile& file : *files) {
    const std::string_view contents = file.contents;
    size_t offset = 0;
    do {
      if (context->IsCancelled()) return ToGrpcStatus(Status::Cancelled("export stream broken by the client"));
      const size_t length = std::min(kDownloadChunkBytes, contents.size() - offset);
      v1::ExportChunk chunk;
      if (offset == 0) {
        chunk.set_file_name(file.name);
        chunk.set_file_size(static_cast<int64_t>(contents.size()));
        chunk.set_sha256(Sha256Hex(contents));
      }
      chunk.set_data(contents.data() + offset, length);
      if (!writer->Write(chunk)) return ToGrpcStatus(Status::Cancelled("export stream broken by the client"));
      offset += length;
    } while (offset < contents.size());
  }
  spdlog::info("export: job {} variant {} as {} ({} files)", request.job_id(), request.variant(), request.format(),
               files->size());
  return grpc::Status::OK;
}

}  // namespace model_rpcs
}  // namespace qatlab::server
