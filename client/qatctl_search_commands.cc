#include "client/qatctl_search_commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/output_files.h"
#include "client/text_table.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "report/html_escape.h"
#include "report/html_report.h"
#include "report/svg_chart.h"
#include "search/bit_width_search.h"
#include "search/probe_plan.h"
#include "server_client/rpc_status.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

using Clock = std::chrono::steady_clock;

bool IsFinalJobState(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

bool IsFinalMeasurementState(const std::string& state) { return state == "SUCCEEDED" || state == "FAILED"; }

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

// The calls the search makes, with the token and deadlines of `options`.
class SearchClient {
 public:
  explicit SearchClient(const QatctlOptions& options, double wait_seconds)
      : options_(options),
        wait_(std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000))),
        stub_(v1::ExperimentService::NewStub(OpenServerChannel(options.address, options.security))) {}

  StatusOr<std::string> Submit(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::SubmitJob, request, &response, "SubmitJob"));
    return response.job().id();
  }

  // Follows the job (WatchJob; GetJob when the stream ends early) until it is
  // final; its results when it SUCCEEDED, else FailedPrecondition naming
  // its state and error.
  StatusOr<v1::GetResultsResponse> WaitForJob(const std::string& id) {
    const auto give_up = Clock::now() + wait_;
    while (Clock::now() < give_up) {
      grpc::ClientContext context;
      PrepareCall(&context, options_.token, 0);
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now()));
      v1::WatchJobRequest request;
      request.set_id(id);
      std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, request);
      v1::JobEvent event;
      v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
      while (reader->Read(&event)) state = event.job().state();
      grpc::Status status = reader->Finish();
      if (IsFinalJobState(state)) break;
      if (!status.ok() && !IsTransientRpcError(status)) return FromRpcStatus(status, "WatchJob " + id);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the server is restarting: poll again
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

  Status Measure(const std::string& job_id, const std::string& variant, const std::string& board) {
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
    const auto give_up = Clock::now() + wait_;
    while (true) {
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
      if (Clock::now() > give_up) {
        return Status::Unavailable(fmt::format(
            "the measurements of job {} on a {} board did not finish in time: is a qatlab-agent for that board "
            "kind connected (qatctl devices)?",
            job_id, board));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

 private:
  template <typename Request, typename Response>
  using UnaryRpc = grpc::Status (v1::ExperimentService::Stub::*)(grpc::ClientContext*, const Request&, Response*);

  template <typename Request, typename Response>
  Status Unary(UnaryRpc<Request, Response> rpc, const Request& request, Response* response, const std::string& what) {
    grpc::ClientContext context;
    PrepareCall(&context, options_.token, options_.timeout_ms);
    grpc::Status status = (stub_.get()->*rpc)(&context, request, response);
    if (!status.ok()) return FromRpcStatus(status, what, options_.address);
    return Status::Ok();
  }

  QatctlOptions options_;
  std::chrono::milliseconds wait_;
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

// The one place candidates are submitted: each configuration QAT-trained
// from `baseline_job`'s float model (the sensitivity job's: trained once for
// the whole search) and measured on the board; one job each, so the worker
// pool runs them in parallel.
// Returns the job ids, one per configuration, in order.
StatusOr<std::vector<std::string>> SubmitCandidateJobs(SearchClient& client, const v1::JobSpec& spec,
                                                       const std::vector<v1::QuantConfig>& configs,
                                                       const std::string& board, const std::string& baseline_job) {
  std::vector<std::string> ids;
  for (const v1::QuantConfig& config : configs) {
    v1::JobSpec job = spec;
    job.clear_configs();
    *job.add_configs() = config;
    job.set_skip_ptq(true);
    job.set_skip_qat(false);
    // The float model the sensitivity job trained: every candidate starts
    // from it instead of training its own (JobSpec.baseline_job).
    job.set_baseline_job(baseline_job);
    job.clear_measure_on();
    job.add_measure_on(board);
    (*job.mutable_labels())["search-step"] = "candidate";
    (*job.mutable_labels())["search-config"] = config.name();
    QATLAB_ASSIGN_OR_RETURN(std::string id, client.Submit(job));
    ids.push_back(std::move(id));
  }
  return ids;
}

std::string Percent(double value) { return fmt::format("{:.2f}", value); }

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

nlohmann::json PredictedJson(const search::PredictedConfig& config) {
  return {{"bits", config.bits},
          {"accuracy", config.accuracy},
          {"accuracyDrop", config.accuracy_drop},
          {"flashBytes", config.flash_bytes},
          {"ramBytes", config.ram_bytes},
          {"cycles", config.cycles},
          {"latencyMs", config.latency_ms}};
}

// The search's own section of the HTML report: predicted against measured,
// plotted and tabled; inserted before the job report's </body>.
std::string SearchSection(const std::vector<search::PredictedConfig>& front, const std::vector<Verified>& verified,
                          const std::vector<bool>& on_front, const std::string& board) {
  ScatterChart chart;
  chart.title = "Search: predicted and measured, accuracy against latency on " + board;
  chart.x_label = "latency (ms)";
  chart.y_label = "integer accuracy (%)";
  chart.series_order = {"predicted front", "predicted (candidate)", "measured (candidate)", "measured (uniform)"};
  for (const search::PredictedConfig& config : front) {
    chart.points.push_back({config.latency_ms,
                            config.accuracy,
                            "",
                            "predicted front",
                            "predicted " + search::BitsText(config.bits),
                            {{"kind", "predicted"}}});
  }
  for (const Verified& v : verified) {
    const std::string bits = search::BitsText(v.predicted.bits);
    if (!v.uniform) {
      chart.points.push_back({v.predicted.latency_ms,
                              v.predicted.accuracy,
                              v.config_name,
                              "predicted (candidate)",
                              "predicted " + bits,
                              {{"kind", "predicted"}, {"config", v.config_name}}});
    }
    if (!v.measurement_error.empty()) continue;
    chart.points.push_back({v.measured.median_us() / 1000,
                            v.variant.integer_accuracy(),
                            v.config_name,
                            v.uniform ? "measured (uniform)" : "measured (candidate)",
                            "measured " + bits,
                            {{"kind", "measured"}, {"config", v.config_name}}});
  }
  std::string html = "<section class=\"search\">\n<h2>Mixed-precision search</h2>\n" + RenderScatterSvg(chart);
  html +=
      "<table>\n<tr><th>config</th><th>widths</th><th>predicted acc (PTQ drops)</th><th>QAT acc "
      "(integer)</th><th>predicted "
      "flash</th><th>flash</th><th>predicted latency ms</th><th>measured latency ms</th><th>latency "
      "error</th><th>bit-exact</th><th>measured front</th></tr>\n";
  for (size_t i = 0; i < verified.size(); ++i) {
    const Verified& v = verified[i];
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</td><td>{}</"
        "td><td>{}</td><td>{}</td></tr>\n",
        EscapeHtml(v.config_name), search::BitsText(v.predicted.bits), Percent(v.predicted.accuracy),
        Percent(v.variant.integer_accuracy()), v.predicted.flash_bytes, v.variant.flash_bytes(), v.predicted.latency_ms,
        v.measurement_error.empty() ? fmt::format("{:.3f}", v.measured.median_us() / 1000)
                                    : EscapeHtml(v.measurement_error),
        v.measurement_error.empty() ? fmt::format("{:+.2f}%", v.latency_error_percent) : "",
        v.measurement_error.empty() ? fmt::format("{}/{}", v.measured.bit_exact_inputs(), v.measured.checked_inputs())
                                    : "",
        on_front[i] ? "yes" : "");
  }
  html += "</table>\n</section>\n";
  return html;
}

class SearchRun {
 public:
  SearchRun(const QatctlOptions& options, const SearchFlags& flags)
      : flags_(flags), client_(options, flags.wait_seconds) {}

  Status Run() {
    if (flags_.candidates < 1 || flags_.candidates > 60) {
      return Status::InvalidArgument(fmt::format("--candidates: {} is outside 1..60", flags_.candidates));
    }
    QATLAB_RETURN_IF_ERROR(CheckOutputFree(flags_.output + ".json", flags_.force));
    QATLAB_RETURN_IF_ERROR(CheckOutputFree(flags_.output + ".html", flags_.force));
    QATLAB_ASSIGN_OR_RETURN(spec_, BuildJobSpec(flags_.spec));
    QATLAB_ASSIGN_OR_RETURN(weighted_layers_, search::CountWeightedLayers(spec_.model()));
    const auto started = Clock::now();

    QATLAB_RETURN_IF_ERROR(RunProbes());
    QATLAB_RETURN_IF_ERROR(Solve());
    QATLAB_RETURN_IF_ERROR(Verify());
    wall_seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
    Print();
    return Write();
  }

 private:
  // Steps 1 and 2: the sensitivity job and the probe measurements.
  Status RunProbes() {
    const v1::JobSpec probe = search::SensitivityJobSpec(spec_, weighted_layers_);
    QATLAB_ASSIGN_OR_RETURN(sensitivity_job_, client_.Submit(probe));
    Log(fmt::format("sensitivity: job {} (float baseline + {} PTQ probes of {} weighted layers)", sensitivity_job_,
                    probe.configs_size(), weighted_layers_));
    QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, client_.WaitForJob(sensitivity_job_));
    probes_.sensitivity_job = results.result();
    sensitivity_job_seconds_ = JobSeconds(results.job());

    std::vector<std::string> measured;
    for (int bits : search::kSearchWidths) measured.push_back("ptq_" + search::UniformConfigName(bits));
    measured.push_back(std::string("ptq_") + search::kMixedProbeName);
    for (const std::string& variant : measured) {
      QATLAB_RETURN_IF_ERROR(client_.Measure(sensitivity_job_, variant, flags_.board));
    }
    Log(fmt::format("cost probes: measuring {} models on a {} board", measured.size(), flags_.board));
    QATLAB_ASSIGN_OR_RETURN(auto measurements, client_.WaitForMeasurements(sensitivity_job_, measured, flags_.board));
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
    QATLAB_ASSIGN_OR_RETURN(problem_, search::BuildSearchProblem(probes_, weighted_layers_));
    QATLAB_ASSIGN_OR_RETURN(mixed_probe_prediction_,
                            search::Predict(problem_, search::MixedProbeBits(weighted_layers_)));
    separability_error_percent_ = RelativeErrorPercent(mixed_probe_prediction_.cycles,
                                                       static_cast<double>(mixed_probe_measurement_.median_cycles()));
    Log(fmt::format("separability: mixed probe {} predicted {:.0f} cycles, measured {} ({:+.2f}%)",
                    search::BitsText(mixed_probe_prediction_.bits), mixed_probe_prediction_.cycles,
                    mixed_probe_measurement_.median_cycles(), separability_error_percent_));
    return Status::Ok();
  }

  // Step 3: the predicted front under the budgets and the candidates on it.
  Status Solve() {
    search::Budgets budgets;
    budgets.max_flash_bytes = flags_.max_flash_bytes;
    budgets.max_ram_bytes = flags_.max_ram_bytes;
    budgets.max_latency_ms = flags_.max_latency_ms;
    QATLAB_ASSIGN_OR_RETURN(front_, search::SolveParetoFront(problem_, budgets));
    std::vector<search::PredictedConfig> uniform;  // the rivals: a candidate that beats one outright is verified
    for (int bits : search::kSearchWidths) {
      QATLAB_ASSIGN_OR_RETURN(search::PredictedConfig u,
                              search::Predict(problem_, std::vector<int>(weighted_layers_, bits)));
      uniform.push_back(std::move(u));
    }
    candidates_ = search::SelectCandidates(front_, flags_.candidates, uniform);
    Log(fmt::format("solve: predicted front of {} configurations within the budgets; {} candidates", front_.size(),
                    candidates_.size()));
    return Status::Ok();
  }

  // Step 4: candidates and uniform configurations trained and measured.
  Status Verify() {
    std::vector<v1::QuantConfig> configs;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      Verified v;
      v.predicted = candidates_[i];
      v.config_name = fmt::format("cand{}", i);
      verified_.push_back(v);
    }
    for (int bits : search::kSearchWidths) {
      Verified v;
      QATLAB_ASSIGN_OR_RETURN(v.predicted, search::Predict(problem_, std::vector<int>(weighted_layers_, bits)));
      v.uniform = true;
      v.config_name = search::UniformConfigName(bits);
      verified_.push_back(v);
    }
    for (const Verified& v : verified_) configs.push_back(ConfigOf(v.config_name, v.predicted.bits, v.uniform));
    QATLAB_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            SubmitCandidateJobs(client_, spec_, configs, flags_.board, sensitivity_job_));
    Log(fmt::format("verify: {} QAT jobs ({} candidates + uniform w8, w4, w2), each measured on a {} board", ids.size(),
                    candidates_.size(), flags_.board));
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
    }
    for (Verified& v : verified_) {
      const std::string variant = "qat_" + v.config_name;
      QATLAB_ASSIGN_OR_RETURN(auto measurements, client_.WaitForMeasurements(v.job_id, {variant}, flags_.board));
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

  static double JobSeconds(const v1::Job& job) {
    return static_cast<double>(job.finished_unix_ms() - job.started_unix_ms()) / 1000;
  }

  static double RelativeErrorPercent(double predicted, double measured) {
    return measured > 0 ? (predicted - measured) / measured * 100 : 0;
  }

  // Uniform configuration u is dominated when a candidate is at least as
  // accurate with no more flash and no more measured latency, and more
  // accurate or cheaper in one.
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

  void Print() const {
    TextTable table;
    using A = TextTable::Align;
    table.SetColumns({"config", "widths", "PTQ-pred acc", "QAT acc", "pred flash", "flash", "RAM", "pred ms", "meas ms",
                      "lat err", "bit-exact", "front"},
                     {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight,
                      A::kRight, A::kRight, A::kLeft});
    for (size_t i = 0; i < verified_.size(); ++i) {
      const Verified& v = verified_[i];
      const bool ok = v.measurement_error.empty();
      table.AddRow({v.config_name, search::BitsText(v.predicted.bits), Percent(v.predicted.accuracy),
                    Percent(v.variant.integer_accuracy()), std::to_string(v.predicted.flash_bytes),
                    std::to_string(v.variant.flash_bytes()), std::to_string(v.variant.ram_bytes()),
                    fmt::format("{:.3f}", v.predicted.latency_ms),
                    ok ? fmt::format("{:.3f}", v.measured.median_us() / 1000) : "failed",
                    ok ? fmt::format("{:+.2f}%", v.latency_error_percent) : "-",
                    ok ? fmt::format("{}/{}", v.measured.bit_exact_inputs(), v.measured.checked_inputs()) : "-",
                    on_front_[i] ? "*" : ""});
    }
    const v1::MeasurementResult& any = probes_.uniform_measurements.at(8);
    fmt::print("search of {} weighted layers on {} ({}{}); sensitivity job {}; {:.0f} s\n", weighted_layers_,
               flags_.board, any.timing_model(), any.emulated() ? ", emulated" : "", sensitivity_job_, wall_seconds_);
    fmt::print("{}", table.Render());
    for (const Verified& v : verified_) {
      if (!v.uniform) continue;
      const std::string by = DominatorOf(v);
      fmt::print("{}: {}\n", v.config_name,
                 by.empty() ? "no candidate is at least as accurate with no more flash and latency"
                            : "matched or beaten by " + by + " (accuracy >=, flash <=, measured latency <=)");
    }
  }

  Status Write() const {
    nlohmann::json json;
    json["board"] = flags_.board;
    json["weightedLayers"] = weighted_layers_;
    json["sensitivityJob"] = sensitivity_job_;
    json["wallSeconds"] = wall_seconds_;
    // What the search cost in worker time, to compare with single QAT jobs.
    json["sensitivityJobSeconds"] = sensitivity_job_seconds_;
    json["referenceAccuracy"] = problem_.reference_accuracy;
    json["timingModel"] = probes_.uniform_measurements.at(8).timing_model();
    json["emulated"] = probes_.uniform_measurements.at(8).emulated();
    json["separability"] = {{"bits", mixed_probe_prediction_.bits},
                            {"predictedCycles", mixed_probe_prediction_.cycles},
                            {"measuredCycles", mixed_probe_measurement_.median_cycles()},
                            {"errorPercent", separability_error_percent_}};
    nlohmann::json sensitivity = nlohmann::json::array();
    for (size_t l = 0; l < problem_.layers.size(); ++l) {
      nlohmann::json layer;
      for (const search::WidthOption& option : problem_.layers[l]) {
        layer[std::to_string(option.bits)] = {
            {"accuracyDrop", option.accuracy_drop}, {"flashBytes", option.flash_bytes}, {"cycles", option.cycles}};
      }
      sensitivity.push_back(layer);
    }
    json["layers"] = sensitivity;
    json["predictedFront"] = nlohmann::json::array();
    for (const search::PredictedConfig& config : front_) json["predictedFront"].push_back(PredictedJson(config));
    json["verified"] = nlohmann::json::array();
    for (size_t i = 0; i < verified_.size(); ++i) {
      const Verified& v = verified_[i];
      nlohmann::json entry = {{"config", v.config_name},
                              {"uniform", v.uniform},
                              {"job", v.job_id},
                              {"jobSeconds", v.job_seconds},
                              {"predicted", PredictedJson(v.predicted)},
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
    QATLAB_RETURN_IF_ERROR(WriteFileAtomically(flags_.output + ".json", json.dump(1) + "\n", flags_.force));

    std::vector<ReportedJob> jobs;
    std::vector<std::string> ids = {sensitivity_job_};
    for (const Verified& v : verified_) ids.push_back(v.job_id);
    for (const std::string& id : ids) {
      QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, client_.Results(id));
      ReportedJob job;
      job.job = results.job();
      job.result = results.result();
      job.measurements.assign(results.measurements().begin(), results.measurements().end());
      jobs.push_back(std::move(job));
    }
    ReportOptions report;
    report.title = fmt::format("qatlab search on {}: sensitivity job {}", flags_.board, sensitivity_job_);
    std::string html = RenderHtmlReport(jobs, report);
    const size_t body_end = html.rfind("</body>");
    html.insert(body_end == std::string::npos ? html.size() : body_end,
                SearchSection(front_, verified_, on_front_, flags_.board));
    QATLAB_RETURN_IF_ERROR(WriteFileAtomically(flags_.output + ".html", html, flags_.force));
    Log(fmt::format("wrote {}.json and {}.html", flags_.output, flags_.output));
    return Status::Ok();
  }

  void Log(const std::string& line) const {
    std::fflush(stdout);
    fmt::print(stderr, "search: {}\n", line);
  }

  const SearchFlags& flags_;
  mutable SearchClient client_;
  v1::JobSpec spec_;
  int weighted_layers_ = 0;
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
  double wall_seconds_ = 0;
};

}  // namespace

CLI::App* AddSearchCommand(CLI::App& app, SearchFlags* flags) {
  CLI::App* search = app.add_subcommand(
      "search", "mixed-precision search: the most accurate per-layer bit widths within a board's budgets");
  search->add_option("job_file", flags->spec.job_file, "job file: the model, data, training and seed (JSON)")
      ->required();
  search->add_option("--board", flags->board, "board kind the latency is measured on (default mps2-an386)");
  search->add_option_function<int64_t>(
      "--max-flash", [flags](const int64_t& v) { flags->max_flash_bytes = v; }, "flash budget in bytes (.qmodel)");
  search->add_option_function<int64_t>(
      "--max-ram", [flags](const int64_t& v) { flags->max_ram_bytes = v; }, "RAM budget in bytes (activation arena)");
  search->add_option_function<double>(
      "--max-latency", [flags](const double& v) { flags->max_latency_ms = v; }, "latency budget in milliseconds");
  search->add_option("--candidates", flags->candidates, "configurations QAT-trained and measured (default 8)");
  search->add_option("-o,--output", flags->output, "writes OUTPUT.json and OUTPUT.html (default: search)");
  search->add_flag("--force", flags->force, "overwrite OUTPUT.json and OUTPUT.html");
  search->add_option("--wait", flags->wait_seconds, "seconds to wait for each job or round of measurements");
  return search;
}

int RunSearch(const QatctlOptions& options, const SearchFlags& flags) {
  SearchRun run(options, flags);
  Status status = run.Run();
  if (!status.ok()) {
    std::fflush(stdout);
    fmt::print(stderr, "qatctl: error: {}\n", DescribeStatus(status));
    return 1;
  }
  return 0;
}

}  // namespace qatlab
