#include "search_run/search_orchestrator.h"

#include <fmt/format.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "search/probe_plan.h"
#include "server_client/rpc_status.h"
#include "server_client/server_link.h"

namespace qatlab::search_run {
namespace {

// How long one watch of a job lasts before the orchestrator checks whether
// it should stop.
constexpr std::chrono::milliseconds kWatchSlice{1000};

bool IsFinalJobState(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

bool IsFinalMeasurementState(const std::string& state) {
  return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
}

// One configuration that is QAT-trained and measured: a search candidate or
// a uniform configuration beside them.
struct Verified {
  search::PredictedConfig predicted;
  bool uniform = false;
  std::string config_name;  // "cand0", "w4a8", ...
  std::string job_id;
  v1::VariantResult variant;         // qat_<config_name>
  v1::MeasurementResult measured;    // on the board
  std::string measurement_error;     // empty when it succeeded
  double job_seconds = 0;            // the job's run time on its worker (started to finished)
  double latency_error_percent = 0;  // (predicted - measured) / measured
};

// The calls the search makes, with the connection's token and deadlines;
// every wait ends when the observer asks to stop.
class SearchClient {
 public:
  SearchClient(const SearchConnection& connection, SearchObserver& observer)
      : connection_(connection), observer_(observer), stub_(v1::ExperimentService::NewStub(connection.channel)) {}

  StatusOr<std::string> Submit(const v1::JobSpec& spec, const std::string& idempotency_key) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_idempotency_key(idempotency_key);
    v1::SubmitJobResponse response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::SubmitJob, request, &response, "SubmitJob"));
    return response.job().id();
  }

  // Follows the job (WatchJob, in slices so a stop is heard) until it is
  // final; its results when it SUCCEEDED, else FailedPrecondition naming its
  // state and error.
  StatusOr<v1::GetResultsResponse> WaitForJob(const std::string& id) {
    while (true) {
      QATLAB_RETURN_IF_ERROR(CheckStop());
      grpc::ClientContext context;
      PrepareCall(&context, connection_.token, 0);
      context.set_deadline(std::chrono::system_clock::now() + kWatchSlice);
      v1::WatchJobRequest request;
      request.set_id(id);
      std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, request);
      v1::JobEvent event;
      v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
      while (reader->Read(&event)) state = event.job().state();
      grpc::Status status = reader->Finish();
      if (IsFinalJobState(state)) break;
      if (!status.ok() && !IsTransientRpcError(status)) return FromRpcStatus(status, "WatchJob " + id);
      // DEADLINE_EXCEEDED is the slice ending; anything else transient is
      // the server restarting: pause before the next watch.
      if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) Pause();
    }
    QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, Results(id));
    if (results.job().state() != v1::SUCCEEDED) {
      return Status::FailedPrecondition(fmt::format("job {} is {}{}", id, v1::JobState_Name(results.job().state()),
                                                    results.job().error().empty() ? "" : ": " + results.job().error()));
    }
    return results;
  }

  StatusOr<v1::GetResultsResponse> Results(const std::string& id) {
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::GetResults, request, &response, "GetResults " + id));
    return response;
  }

  // Queues a measurement of the job's `variant` on `board` unless the job
  // has one already (of any state: a resumed search waits for the one its
  // first run queued instead of measuring twice).
  Status MeasureOnce(const std::string& job_id, const std::string& variant, const std::string& board) {
    QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, Results(job_id));
    for (const v1::Measurement& m : results.measurements()) {
      if (m.variant() == variant && m.board_kind() == board) return Status::Ok();
    }
    v1::MeasureRequest request;
    request.set_job_id(job_id);
    request.set_variant(variant);
    request.set_board_kind(board);
    v1::MeasureResponse response;
    return Unary(&v1::ExperimentService::Stub::Measure, request, &response, "Measure " + job_id + " " + variant);
  }

  // The job's measurements of `variants` on `board` once each is final
  // (polled; measurements have no watch stream), by variant: the latest
  // attempt of each.
  StatusOr<std::map<std::string, v1::Measurement>> WaitForMeasurements(const std::string& job_id,
                                                                       const std::vector<std::string>& variants,
                                                                       const std::string& board) {
    while (true) {
      QATLAB_RETURN_IF_ERROR(CheckStop());
      QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, Results(job_id));
      std::map<std::string, v1::Measurement> found;
      for (const v1::Measurement& m : results.measurements()) {
        if (m.board_kind() != board) continue;
        auto at = found.find(m.variant());
        if (at == found.end() || m.attempt() >= at->second.attempt()) found[m.variant()] = m;
      }
      bool all_final = true;
      for (const std::string& variant : variants) {
        auto at = found.find(variant);
        if (at == found.end()) {
          return Status::NotFound(fmt::format("job {} has no measurement of {} on a {} board", job_id, variant, board));
        }
        if (!IsFinalMeasurementState(at->second.state())) all_final = false;
      }
      if (all_final) return found;
      Pause();
    }
  }

 private:
  template <typename Request, typename Response>
  using UnaryRpc = grpc::Status (v1::ExperimentService::Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // One call, retried while the server is briefly away (restarting).
  template <typename Request, typename Response>
  Status Unary(UnaryRpc<Request, Response> rpc, const Request& request, Response* response, const std::string& what) {
    while (true) {
      grpc::ClientContext context;
      PrepareCall(&context, connection_.token, connection_.timeout_ms);
      grpc::Status status = (stub_.get()->*rpc)(&context, request, response);
      if (status.ok()) return Status::Ok();
      if (!IsTransientRpcError(status)) return FromRpcStatus(status, what);
      QATLAB_RETURN_IF_ERROR(CheckStop());
      Pause();
    }
  }

  Status CheckStop() { return observer_.StopRequested() ? Status::Cancelled("the search was stopped") : Status::Ok(); }
  void Pause() const { std::this_thread::sleep_for(connection_.poll); }

  const SearchConnection& connection_;
  SearchObserver& observer_;
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

v1::QuantConfig ConfigOf(const std::string& name, const std::vector<int>& bits, bool uniform) {
  v1::QuantConfig config;
  config.set_name(name);
  config.set_activation_bits(8);
  if (uniform) {
    config.set_weight_bits(bits.front());
  } else {
    config.set_weight_bits(8);
    for (int b : bits) config.add_layer_weight_bits(b);
  }
  return config;
}

void LabelSearchJob(v1::JobSpec* job, const std::string& search_id, const std::string& step) {
  (*job->mutable_labels())["search"] = search_id;
  (*job->mutable_labels())["search-step"] = step;
}

// The one place candidates are submitted: each configuration QAT-trained
// from `baseline_job`'s float model (the sensitivity job's: trained once for
// the whole search) and measured on the board; one job each, so the worker
// pool runs them in parallel. Returns the job ids, one per configuration, in
// order.
StatusOr<std::vector<std::string>> SubmitCandidateJobs(SearchClient& client, SearchObserver& observer,
                                                       const SearchParameters& parameters,
                                                       const std::vector<v1::QuantConfig>& configs,
                                                       const std::string& baseline_job) {
  std::vector<std::string> ids;
  for (const v1::QuantConfig& config : configs) {
    v1::JobSpec job = parameters.spec;
    job.clear_configs();
    *job.add_configs() = config;
    job.set_skip_ptq(true);
    job.set_skip_qat(false);
    // The float model the sensitivity job trained: every candidate starts
    // from it instead of training its own (JobSpec.baseline_job).
    job.set_baseline_job(baseline_job);
    job.clear_measure_on();
    job.add_measure_on(parameters.board_kind);
    // The Hessian traces are the sensitivity job's; a candidate has no use for them.
    job.mutable_ptq()->set_hessian_probes(0);
    LabelSearchJob(&job, parameters.search_id, "candidate");
    (*job.mutable_labels())["search-config"] = config.name();
    QATLAB_ASSIGN_OR_RETURN(std::string id,
                            client.Submit(job, SearchJobKey(parameters.search_id, "verify/" + config.name())));
    QATLAB_RETURN_IF_ERROR(observer.JobCreated(id, false));
    ids.push_back(std::move(id));
  }
  return ids;
}

// The measured front over the verified configurations: those no other beats
// on integer accuracy (>=), flash (<=) and measured cycles (<=), strictly on one.
std::vector<bool> MeasuredFront(const std::vector<Verified>& verified) {
  std::vector<bool> on_front(verified.size(), true);
  for (size_t i = 0; i < verified.size(); ++i) {
    for (size_t j = 0; j < verified.size(); ++j) {
      const Verified& a = verified[j];
      const Verified& b = verified[i];
      if (i == j || !a.measurement_error.empty()) continue;
      const bool no_worse = a.variant.integer_accuracy() >= b.variant.integer_accuracy() &&
                            a.variant.flash_bytes() <= b.variant.flash_bytes() &&
                            a.measured.median_cycles() <= b.measured.median_cycles();
      const bool better = a.variant.integer_accuracy() > b.variant.integer_accuracy() ||
                          a.variant.flash_bytes() < b.variant.flash_bytes() ||
                          a.measured.median_cycles() < b.measured.median_cycles();
      if (no_worse && better) on_front[i] = false;
    }
    if (!verified[i].measurement_error.empty()) on_front[i] = false;
  }
  return on_front;
}

// A predicted configuration: both measures' predictions, `accuracy` (a
// percentage: ptq_w8a8's minus the PTQ drops) and, when the sensitivity job
// has Hessian traces, `hawqScore` (a score, not a percentage); the result's
// `rankBy` says which one ranked.
nlohmann::json PredictedJson(const search::PredictedConfig& config, const search::SearchProblem& problem) {
  nlohmann::json json = {{"bits", config.bits},
                         {"accuracy", config.accuracy},
                         {"accuracyDrop", config.accuracy_drop},
                         {"flashBytes", config.flash_bytes},
                         {"ramBytes", config.ram_bytes},
                         {"cycles", config.cycles},
                         {"latencyMs", config.latency_ms}};
  if (problem.has_hawq_scores) json["hawqScore"] = config.hawq_score;
  return json;
}

// The field of a predicted configuration the ranking measure's figure is in.
const char* RankField(search::RankingMeasure measure) {
  return measure == search::RankingMeasure::kHawqScore ? "hawqScore" : "accuracyDrop";
}

// How a log line names the ranking measure.
const char* RankDescription(search::RankingMeasure measure) {
  return measure == search::RankingMeasure::kHawqScore ? "HAWQ score (sum of Omega; lower predicts more accurate)"
                                                       : "sum of the PTQ accuracy drops";
}

// A layer's second-order sensitivity (JobResult.layer_hessian).
nlohmann::json HessianJson(const v1::LayerHessian& layer) {
  return {{"trace", layer.trace()},
          {"traceStandardError", layer.trace_standard_error()},
          {"parameters", layer.parameters()},
          {"omega", {{"2", layer.omega_w2()}, {"4", layer.omega_w4()}, {"8", layer.omega_w8()}}}};
}

double JobSeconds(const v1::Job& job) {
  return static_cast<double>(job.finished_unix_ms() - job.started_unix_ms()) / 1000;
}

double RelativeErrorPercent(double predicted, double measured) {
  return measured > 0 ? (predicted - measured) / measured * 100 : 0;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SearchRun {
 public:
  SearchRun(const SearchConnection& connection, const SearchParameters& parameters, SearchObserver& observer)
      : parameters_(parameters), observer_(observer), client_(connection, observer) {}

  StatusOr<std::string> Run() {
    if (parameters_.candidates < 1 || parameters_.candidates > 60) {
      return Status::InvalidArgument(fmt::format("candidates: {} is outside 1..60", parameters_.candidates));
    }
    if (parameters_.weighted_layers < 1) {
      return Status::InvalidArgument("the model has no weighted layer: nothing to search");
    }
    // A search resumed after its deadline (or cancelled meanwhile) stops
    // before it calls anything.
    if (observer_.StopRequested()) return Status::Cancelled("the search was stopped");
    QATLAB_RETURN_IF_ERROR(RunProbes());
    QATLAB_RETURN_IF_ERROR(Solve());
    QATLAB_RETURN_IF_ERROR(Verify());
    return ResultJson();
  }

 private:
  Status Log(const std::string& step, const std::string& line) { return observer_.Progress(step, line); }

  // Steps 1 and 2: the sensitivity job and the probe measurements.
  Status RunProbes() {
    v1::JobSpec probe = search::SensitivityJobSpec(parameters_.spec, parameters_.weighted_layers);
    LabelSearchJob(&probe, parameters_.search_id, "sensitivity");
    QATLAB_ASSIGN_OR_RETURN(sensitivity_job_,
                            client_.Submit(probe, SearchJobKey(parameters_.search_id, "sensitivity")));
    QATLAB_RETURN_IF_ERROR(observer_.JobCreated(sensitivity_job_, true));
    QATLAB_RETURN_IF_ERROR(
        Log("sensitivity", fmt::format("sensitivity: job {} (float baseline + {} PTQ probes of {} "
                                       "weighted layers)",
                                       sensitivity_job_, probe.configs_size(), parameters_.weighted_layers)));
    QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, client_.WaitForJob(sensitivity_job_));
    probes_.sensitivity_job = results.result();
    sensitivity_job_seconds_ = JobSeconds(results.job());
    // No traces for a HAWQ search: fail now, before the board measures the probes.
    QATLAB_RETURN_IF_ERROR(
        search::CheckRankable(probes_.sensitivity_job, parameters_.weighted_layers, parameters_.ranking));

    const std::string& board = parameters_.board_kind;
    std::vector<std::string> measured;
    for (int bits : search::kSearchWidths) measured.push_back("ptq_" + search::UniformConfigName(bits));
    measured.push_back(std::string("ptq_") + search::kMixedProbeName);
    for (const std::string& variant : measured) {
      QATLAB_RETURN_IF_ERROR(client_.MeasureOnce(sensitivity_job_, variant, board));
    }
    QATLAB_RETURN_IF_ERROR(
        Log("probes", fmt::format("cost probes: measuring {} models on a {} board", measured.size(), board)));
    QATLAB_ASSIGN_OR_RETURN(auto measurements, client_.WaitForMeasurements(sensitivity_job_, measured, board));
    for (const std::string& variant : measured) {
      const v1::Measurement& m = measurements.at(variant);
      if (m.state() != "SUCCEEDED") {
        return Status::FailedPrecondition(
            fmt::format("the measurement of {} of job {} failed: {}", variant, sensitivity_job_, m.error()));
      }
    }
    for (int bits : search::kSearchWidths) {
      probes_.uniform_measurements[bits] = measurements.at("ptq_" + search::UniformConfigName(bits)).result();
    }
    mixed_probe_measurement_ = measurements.at(std::string("ptq_") + search::kMixedProbeName).result();
    QATLAB_ASSIGN_OR_RETURN(problem_,
                            search::BuildSearchProblem(probes_, parameters_.weighted_layers, parameters_.ranking));
    QATLAB_ASSIGN_OR_RETURN(mixed_probe_prediction_,
                            search::Predict(problem_, search::MixedProbeBits(parameters_.weighted_layers)));
    separability_error_percent_ = RelativeErrorPercent(mixed_probe_prediction_.cycles,
                                                       static_cast<double>(mixed_probe_measurement_.median_cycles()));
    return Log("probes", fmt::format("separability: mixed probe {} predicted {:.0f} cycles, measured {} ({:+.2f}%)",
                                     search::BitsText(mixed_probe_prediction_.bits), mixed_probe_prediction_.cycles,
                                     mixed_probe_measurement_.median_cycles(), separability_error_percent_));
  }

  // Step 3: the predicted front under the budgets and the candidates on it.
  Status Solve() {
    QATLAB_ASSIGN_OR_RETURN(front_, search::SolveParetoFront(problem_, parameters_.budgets));
    std::vector<search::PredictedConfig> uniform;  // the rivals: a candidate that beats one outright is verified
    for (int bits : search::kSearchWidths) {
      QATLAB_ASSIGN_OR_RETURN(search::PredictedConfig u,
                              search::Predict(problem_, std::vector<int>(parameters_.weighted_layers, bits)));
      uniform.push_back(std::move(u));
    }
    candidates_ = search::SelectCandidates(front_, parameters_.candidates, uniform);
    return Log("solve", fmt::format("solve: predicted front of {} configurations within the budgets, ranked by the "
                                    "{}; {} candidates",
                                    front_.size(), RankDescription(parameters_.ranking), candidates_.size()));
  }

  // Step 4: candidates and uniform configurations trained and measured.
  Status Verify() {
    for (size_t i = 0; i < candidates_.size(); ++i) {
      Verified v;
      v.predicted = candidates_[i];
      v.config_name = fmt::format("cand{}", i);
      verified_.push_back(v);
    }
    for (int bits : search::kSearchWidths) {
      Verified v;
      QATLAB_ASSIGN_OR_RETURN(v.predicted,
                              search::Predict(problem_, std::vector<int>(parameters_.weighted_layers, bits)));
      v.uniform = true;
      v.config_name = search::UniformConfigName(bits);
      verified_.push_back(v);
    }
    std::vector<v1::QuantConfig> configs;
    for (const Verified& v : verified_) configs.push_back(ConfigOf(v.config_name, v.predicted.bits, v.uniform));
    QATLAB_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            SubmitCandidateJobs(client_, observer_, parameters_, configs, sensitivity_job_));
    QATLAB_RETURN_IF_ERROR(Log("verify", fmt::format("verify: {} QAT jobs ({} candidates + uniform w8, w4, w2), each "
                                                     "measured on a {} board",
                                                     ids.size(), candidates_.size(), parameters_.board_kind)));
    for (size_t i = 0; i < verified_.size(); ++i) {
      Verified& v = verified_[i];
      v.job_id = ids[i];
      QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, client_.WaitForJob(v.job_id));
      const std::string variant = "qat_" + v.config_name;
      auto found = std::find_if(results.result().variants().begin(), results.result().variants().end(),
                                [&](const v1::VariantResult& r) { return r.name() == variant; });
      if (found == results.result().variants().end()) {
        return Status::Internal(fmt::format("job {} has no variant {}", v.job_id, variant));
      }
      v.variant = *found;
      v.job_seconds = JobSeconds(results.job());
      QATLAB_RETURN_IF_ERROR(Log("verify", fmt::format("verify: {} of {} QAT jobs finished", i + 1, verified_.size())));
    }
    for (Verified& v : verified_) {
      const std::string variant = "qat_" + v.config_name;
      QATLAB_ASSIGN_OR_RETURN(auto measurements,
                              client_.WaitForMeasurements(v.job_id, {variant}, parameters_.board_kind));
      const v1::Measurement& m = measurements.at(variant);
      if (m.state() != "SUCCEEDED") {
        v.measurement_error = m.error().empty() ? "failed" : m.error();
        continue;
      }
      v.measured = m.result();
      v.latency_error_percent =
          RelativeErrorPercent(v.predicted.cycles, static_cast<double>(v.measured.median_cycles()));
    }
    on_front_ = MeasuredFront(verified_);
    return Status::Ok();
  }

  // Uniform configuration u is dominated when a candidate is at least as
  // accurate with no more flash and no more measured latency.
  std::string DominatorOf(const Verified& uniform) const {
    for (const Verified& v : verified_) {
      if (v.uniform || !v.measurement_error.empty() || !uniform.measurement_error.empty()) continue;
      if (v.variant.integer_accuracy() >= uniform.variant.integer_accuracy() &&
          v.variant.flash_bytes() <= uniform.variant.flash_bytes() &&
          v.measured.median_cycles() <= uniform.measured.median_cycles()) {
        return v.config_name;
      }
    }
    return "";
  }

  std::string ResultJson() const {
    nlohmann::json json;
    json["search"] = parameters_.search_id;
    json["board"] = parameters_.board_kind;
    json["weightedLayers"] = parameters_.weighted_layers;
    // Which measure ranked the front and chose the candidates, and the field
    // of each prediction it is in (a percentage for ptq, a score for hawq).
    json["rankBy"] = search::RankingMeasureName(parameters_.ranking);
    json["rankField"] = RankField(parameters_.ranking);
    json["sensitivityJob"] = sensitivity_job_;
    json["wallSeconds"] = static_cast<double>(NowUnixMs() - parameters_.created_unix_ms) / 1000;
    // What the search cost in worker time, to compare with single QAT jobs.
    json["sensitivityJobSeconds"] = sensitivity_job_seconds_;
    json["referenceAccuracy"] = problem_.reference_accuracy;
    json["timingModel"] = probes_.uniform_measurements.at(8).timing_model();
    json["emulated"] = probes_.uniform_measurements.at(8).emulated();
    json["separability"] = {{"bits", mixed_probe_prediction_.bits},
                            {"predictedCycles", mixed_probe_prediction_.cycles},
                            {"measuredCycles", mixed_probe_measurement_.median_cycles()},
                            {"errorPercent", separability_error_percent_}};
    const v1::JobResult& sensitivity_job = probes_.sensitivity_job;
    // The Hessian traces, when the job has them for every layer (a worker of
    // an older version computes none).
    const bool hessian = problem_.has_hawq_scores;
    nlohmann::json sensitivity = nlohmann::json::array();
    for (size_t l = 0; l < problem_.layers.size(); ++l) {
      nlohmann::json layer;
      for (const search::WidthOption& option : problem_.layers[l]) {
        layer[std::to_string(option.bits)] = {
            {"accuracyDrop", option.accuracy_drop}, {"flashBytes", option.flash_bytes}, {"cycles", option.cycles}};
      }
      if (hessian) layer["hessian"] = HessianJson(sensitivity_job.layer_hessian(static_cast<int>(l)));
      sensitivity.push_back(layer);
    }
    json["layers"] = sensitivity;
    json["predictedFront"] = nlohmann::json::array();
    for (const search::PredictedConfig& config : front_)
      json["predictedFront"].push_back(PredictedJson(config, problem_));
    json["verified"] = nlohmann::json::array();
    for (size_t i = 0; i < verified_.size(); ++i) {
      const Verified& v = verified_[i];
      nlohmann::json entry = {{"config", v.config_name},
                              {"uniform", v.uniform},
                              {"job", v.job_id},
                              {"jobSeconds", v.job_seconds},
                              {"predicted", PredictedJson(v.predicted, problem_)},
                              {"onMeasuredFront", on_front_[i]}};
      entry["measured"] = {{"integerAccuracy", v.variant.integer_accuracy()},
                           {"flashBytes", v.variant.flash_bytes()},
                           {"ramBytes", v.variant.ram_bytes()}};
      if (v.measurement_error.empty()) {
        entry["measured"]["cycles"] = v.measured.median_cycles();
        entry["measured"]["latencyMs"] = v.measured.median_us() / 1000;
        entry["measured"]["bitExactInputs"] = v.measured.bit_exact_inputs();
        entry["measured"]["checkedInputs"] = v.measured.checked_inputs();
        entry["latencyErrorPercent"] = v.latency_error_percent;
      } else {
        entry["measurementError"] = v.measurement_error;
      }
      if (v.uniform) entry["dominatedBy"] = DominatorOf(v);
      json["verified"].push_back(entry);
    }
    return json.dump(1) + "\n";
  }

  const SearchParameters& parameters_;
  SearchObserver& observer_;
  SearchClient client_;
  std::string sensitivity_job_;
  search::ProbeResults probes_;
  search::SearchProblem problem_;
  v1::MeasurementResult mixed_probe_measurement_;
  search::PredictedConfig mixed_probe_prediction_;
  double separability_error_percent_ = 0;
  double sensitivity_job_seconds_ = 0;
  std::vector<search::PredictedConfig> front_;
  std::vector<search::PredictedConfig> candidates_;
  std::vector<Verified> verified_;
  std::vector<bool> on_front_;
};

}  // namespace

std::string SearchJobKey(const std::string& search_id, const std::string& step) { return search_id + "/" + step; }

StatusOr<std::string> RunSearch(const SearchConnection& connection, const SearchParameters& parameters,
                                SearchObserver& observer) {
  SearchRun run(connection, parameters, observer);
  return run.Run();
}

}  // namespace qatlab::search_run
