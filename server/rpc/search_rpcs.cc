#include "server/rpc/search_rpcs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "engine/job_spec.h"
#include "search/probe_plan.h"
#include "search/reachable_budgets.h"
#include "search_run/search_orchestrator.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/search_runner.h"
#include "server/rpc/submission_validation.h"
#include "server/rpc/sweep_rpcs.h"
#include "status/printable_value.h"

namespace qatlab::server::search_rpcs {
namespace {

constexpr int kDefaultCandidates = 8;
constexpr int kMaxCandidates = 60;
// A year: a longer limit is more likely a unit mistake than a wish.
constexpr int64_t kMaxTimeoutSeconds = 365ll * 24 * 3600;

grpc::Status Invalid(const std::string& message) { return ToGrpcStatus(Status::InvalidArgument(message)); }

grpc::Status Unimplemented() { return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this server runs no searches"); }

// The model as the search sees it at submission.
struct SearchedModel {
  std::vector<LayerConfig> layers;
  int weighted_layers = 0;
  // An uploaded ONNX model's per-sample input shape.
  std::optional<ImageShape> uploaded_input;
};

// The model's layers: a preset or layer list through the engine's
// translation; an uploaded ONNX model through the server's own copy of its
// file.
StatusOr<SearchedModel> ResolveModel(ServiceDependencies& deps, const SubmissionLookups& lookups,
                                     const v1::ModelSpec& model) {
  SearchedModel searched;
  v1::ModelSpec translated = model;
  const std::string& onnx = model.onnx();
  if (onnx.rfind(kModelReferencePrefix, 0) == 0) {
    const std::string name = onnx.substr(std::string(kModelReferencePrefix).size());
    StatusOr<v1::Model> uploaded = lookups.find_model(name);
    if (!uploaded.ok()) {
      return Status::InvalidArgument(fmt::format(
          "spec.model.onnx: model {} has not been uploaded (see ListModels, qatctl models ls)", PrintableValue(name)));
    }
    translated.set_onnx(deps.artifacts.PathOf(uploaded->sha256()));
    searched.uploaded_input = ImageShape{uploaded->input_height(), uploaded->input_width(), uploaded->input_channels()};
  }
  StatusOr<std::vector<LayerConfig>> layers = TranslateModel(translated);
  if (!layers.ok()) {
    if (!onnx.empty() && onnx.rfind(kModelReferencePrefix, 0) != 0) {
      return Status::InvalidArgument(fmt::format(
          "spec.model.onnx: {}: the server counts the model's layers from the file, and cannot read it ({}); upload "
          "it (qatctl models upload) and name it model:<name>",
          PrintableValue(onnx), layers.status().message()));
    }
    return Status::InvalidArgument("spec.model: " + std::string(layers.status().message()));
  }
  searched.layers = std::move(*layers);
  searched.weighted_layers = search::CountWeightedLayers(searched.layers);
  if (searched.weighted_layers < 1) {
    return Status::InvalidArgument("spec.model: the model has no weighted layer; nothing to search");
  }
  return searched;
}

Status CheckBudgets(const v1::SearchBudgets& budgets) {
  if (budgets.has_max_flash_bytes() && budgets.max_flash_bytes() <= 0) {
    return Status::InvalidArgument(
        fmt::format("budgets.max_flash_bytes: {} is not a positive number of bytes", budgets.max_flash_bytes()));
  }
  if (budgets.has_max_ram_bytes() && budgets.max_ram_bytes() <= 0) {
    return Status::InvalidArgument(
        fmt::format("budgets.max_ram_bytes: {} is not a positive number of bytes", budgets.max_ram_bytes()));
  }
  if (budgets.has_max_latency_ms() && !(std::isfinite(budgets.max_latency_ms()) && budgets.max_latency_ms() > 0)) {
    return Status::InvalidArgument(
        fmt::format("budgets.max_latency_ms: {} is not a positive number of milliseconds", budgets.max_latency_ms()));
  }
  return Status::Ok();
}

// Flash and RAM budgets the model cannot meet even with every weighted layer
// at 2 bits, refused before the sensitivity job trains for minutes. Only
// when the input shape is known here (an uploaded ONNX model's own, else the
// data source's; `data` has its defaults applied); otherwise the search finds
// out after its probes, as it does for a latency budget. INVALID_ARGUMENT,
// as the same finding after the probes: the request alone (model, data
// shape, budget) cannot be met, whatever the server's state.
Status CheckBudgetsReachable(const v1::SearchBudgets& budgets, const SearchedModel& model, const v1::DataSpec& data) {
  if (!budgets.has_max_flash_bytes() && !budgets.has_max_ram_bytes()) return Status::Ok();
  const std::optional<ImageShape> input = model.uploaded_input ? model.uploaded_input : KnownInputShape(data);
  if (!input.has_value()) return Status::Ok();
  StatusOr<search::SmallestFootprint> smallest = search::ComputeSmallestFootprint(model.layers, *input);
  // A model that does not chain from the data's shape (the worker refuses it,
  // naming the layer) or that this untrained network cannot be exported as:
  // the search runs, and its probes check the budgets as before.
  if (!smallest.ok()) return Status::Ok();
  return search::CheckReachable(budgets, *smallest);
}

// The measure the search ranks by: HAWQ unless the request says otherwise.
// A spec that asks for no Hessian traces is told apart from one that leaves
// them to the search only by the client (proto3: 0 is unset), so a HAWQ
// search whose sensitivity job comes back without them fails then, naming
// the fix (search::BuildSearchProblem).
StatusOr<v1::Search::RankBy> ResolveRankBy(const v1::SubmitSearchRequest& request) {
  switch (request.rank_by()) {
    case v1::Search::RANK_BY_UNSPECIFIED:
    case v1::Search::RANK_BY_HAWQ: return v1::Search::RANK_BY_HAWQ;
    case v1::Search::RANK_BY_PTQ: return v1::Search::RANK_BY_PTQ;
    default:
      return Status::InvalidArgument(fmt::format("rank_by: {} is not a ranking measure (RANK_BY_HAWQ or RANK_BY_PTQ)",
                                                 static_cast<int>(request.rank_by())));
  }
}

// A board kind some agent registered, else nothing would measure the probes
// (the words of Measure's refusal).
Status CheckBoardKind(ServiceDependencies& deps, const std::string& kind) {
  StatusOr<std::vector<std::string>> registered = deps.devices->RegisteredBoardKinds();
  if (!registered.ok()) return registered.status();
  if (std::find(registered->begin(), registered->end(), kind) != registered->end()) return Status::Ok();
  return Status::FailedPrecondition(
      fmt::format("board_kind: no agent has registered a {} board, so nothing would measure the search's probes; "
                  "registered kinds: {} (start qatlab-agent --board {})",
                  PrintableValue(kind), registered->empty() ? "none" : fmt::format("{}", fmt::join(*registered, ", ")),
                  PrintableValue(kind)));
}

}  // namespace

grpc::Status SubmitSearch(ServiceDependencies& deps, const SubmissionLookups& lookups,
                          const v1::SubmitSearchRequest& request, v1::Search* response) {
  if (deps.searches == nullptr || deps.search_runner == nullptr || deps.devices == nullptr) return Unimplemented();
  if (!request.has_spec()) return Invalid("spec: missing; a search needs a job spec (model, data, training, seed)");
  if (request.idempotency_key().size() > 256) return Invalid("idempotency_key: longer than 256 characters");
  const int candidates = request.candidates() == 0 ? kDefaultCandidates : request.candidates();
  if (candidates < 1 || candidates > kMaxCandidates) {
    return Invalid(fmt::format("candidates: {} is outside 1..{}", request.candidates(), kMaxCandidates));
  }
  if (Status budgets = CheckBudgets(request.budgets()); !budgets.ok()) return ToGrpcStatus(budgets);
  StatusOr<v1::Search::RankBy> rank_by = ResolveRankBy(request);
  if (!rank_by.ok()) return ToGrpcStatus(rank_by.status());
  if (request.timeout_seconds() < 0 || request.timeout_seconds() > kMaxTimeoutSeconds) {
    return Invalid(fmt::format("timeout_seconds: {} is outside 0..{} (0: no limit)", request.timeout_seconds(),
                               kMaxTimeoutSeconds));
  }
  const std::string board = request.board_kind().empty() ? kDefaultBoardKind : request.board_kind();
  if (board.size() > 256) return Invalid("board_kind: longer than 256 characters");
  StatusOr<SearchedModel> model = ResolveModel(deps, lookups, request.spec().model());
  if (!model.ok()) return ToGrpcStatus(model.status());
  // The sensitivity job is checked as SubmitJob will check it, so a spec the
  // search could not submit is refused now, not minutes later.
  v1::JobSpec sensitivity = search::SensitivityJobSpec(request.spec(), model->weighted_layers);
  Status valid = PrepareSubmission(&sensitivity, lookups, deps.limits.submission);
  if (valid.ok()) valid = sweep_rpcs::CheckBaseline(deps.store, sensitivity);
  if (!valid.ok()) return ToGrpcStatus(valid.WithContext("spec"));
  if (Status reachable = CheckBudgetsReachable(request.budgets(), *model, sensitivity.data()); !reachable.ok()) {
    return ToGrpcStatus(reachable);
  }
  if (Status kind = CheckBoardKind(deps, board); !kind.ok()) return ToGrpcStatus(kind);

  v1::Search search;
  *search.mutable_spec() = request.spec();
  search.set_board_kind(board);
  *search.mutable_budgets() = request.budgets();
  search.set_candidates(candidates);
  search.set_weighted_layers(model->weighted_layers);
  search.set_rank_by(*rank_by);
  // The store turns it into the absolute deadline (deadline_unix_ms) with the
  // creation time it stamps.
  search.set_timeout_seconds(request.timeout_seconds());
  StatusOr<v1::Search> stored = deps.searches->Create(std::move(search), request.idempotency_key());
  if (!stored.ok()) return ToGrpcStatus(stored.status());
  if (stored->state() == v1::QUEUED) deps.search_runner->Start(*stored);
  *response = std::move(*stored);
  return grpc::Status::OK;
}

grpc::Status GetSearch(ServiceDependencies& deps, const v1::GetSearchRequest& request, v1::Search* response) {
  if (deps.searches == nullptr) return Unimplemented();
  if (request.id().empty()) return Invalid("id: empty; give a search id");
  StatusOr<v1::Search> search = deps.searches->Get(request.id());
  if (!search.ok()) return ToGrpcStatus(search.status());
  *response = std::move(*search);
  return grpc::Status::OK;
}

grpc::Status ListSearches(ServiceDependencies& deps, const v1::ListSearchesRequest& request,
                          v1::ListSearchesResponse* response) {
  if (deps.searches == nullptr) return Unimplemented();
  StatusOr<SearchPage> page = deps.searches->List(request.page_size(), request.page_token());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (v1::Search& search : page->searches) *response->add_searches() = std::move(search);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status CancelSearch(ServiceDependencies& deps, const v1::CancelSearchRequest& request, v1::Search* response) {
  if (deps.searches == nullptr || deps.search_runner == nullptr) return Unimplemented();
  if (request.id().empty()) return Invalid("id: empty; give a search id");
  StatusOr<v1::Search> search = deps.searches->Cancel(request.id());
  if (!search.ok()) return ToGrpcStatus(search.status());
  deps.search_runner->Stop(search->id());
  CancelSearchJobs(deps.store, deps.devices, *search);
  *response = std::move(*search);
  return grpc::Status::OK;
}

}  // namespace qatlab::server::search_rpcs
