#include "client/qatctl_search_commands.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/output_files.h"
#include "client/text_table.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "report/html_escape.h"
#include "report/html_report.h"
#include "report/svg_chart.h"
#include "server_client/rpc_status.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::chrono::milliseconds kPollInterval{1000};

std::string Percent(double value) { return fmt::format("{:.2f}", value); }

std::string BitsText(const json& bits) {
  std::string text;
  for (const json& b : bits) text += (text.empty() ? "" : ",") + std::to_string(b.get<int>());
  return text;
}

bool Measured(const json& v) { return !v.contains("measurementError"); }

// The measure that ranked the search (its result's `rankBy`; results from
// before the option ranked by the PTQ drops).
bool RankedByHawq(const json& result) { return result.value("rankBy", "ptq") == "hawq"; }

// What the ranking measure is, in words, for the table and the report.
std::string RankingLine(const json& result) {
  return RankedByHawq(result)
             ? "ranked by the HAWQ score (sum over the layers of Omega(l, b); lower predicts more accurate; a score, "
               "not a percentage); the PTQ-drop prediction beside it"
             : "ranked by the PTQ drops (predicted accuracy: ptq_w8a8's minus the layers' PTQ drops, a ranking "
               "signal, not a forecast of QAT accuracy); the HAWQ score beside it";
}

// A configuration's HAWQ score, or "-" when the search has none.
std::string HawqText(const json& predicted) {
  return predicted.contains("hawqScore") ? fmt::format("{:.4g}", predicted["hawqScore"].get<double>()) : "-";
}

constexpr int64_t kMaxTimeoutSeconds = 365ll * 24 * 3600;

// The calls qatctl search makes, with the token and deadline of `options`.
class SearchApi {
 public:
  explicit SearchApi(const QatctlOptions& options)
      : options_(options),
        stub_(v1::ExperimentService::NewStub(OpenServerChannel(options.address, options.security))) {}

  StatusOr<v1::Search> Submit(const v1::SubmitSearchRequest& request) {
    v1::Search response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::SubmitSearch, request, &response, "SubmitSearch"));
    return response;
  }
  StatusOr<v1::Search> Get(const std::string& id) {
    v1::GetSearchRequest request;
    request.set_id(id);
    v1::Search response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::GetSearch, request, &response, "GetSearch " + id));
    return response;
  }
  StatusOr<v1::Search> Cancel(const std::string& id) {
    v1::CancelSearchRequest request;
    request.set_id(id);
    v1::Search response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::CancelSearch, request, &response, "CancelSearch " + id));
    return response;
  }
  StatusOr<v1::GetResultsResponse> Results(const std::string& id) {
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse response;
    QATLAB_RETURN_IF_ERROR(Unary(&v1::ExperimentService::Stub::GetResults, request, &response, "GetResults " + id));
    return response;
  }

  // Polls the search until it is final (or `wait` passed: Unavailable),
  // printing each progress line once as it appears; a server restarting in
  // between is waited for.
  StatusOr<v1::Search> Follow(const std::string& id, std::chrono::milliseconds wait) {
    const auto give_up = Clock::now() + wait;
    int printed = 0;
    while (true) {
      v1::GetSearchRequest request;
      request.set_id(id);
      v1::Search search;
      grpc::ClientContext context;
      PrepareCall(&context, options_.token, options_.timeout_ms);
      grpc::Status status = stub_->GetSearch(&context, request, &search);
      if (status.ok()) {
        for (; printed < search.log_size(); ++printed) {
          std::fflush(stdout);
          fmt::print(stderr, "search: {}\n", search.log(printed));
        }
        if (search.state() != v1::QUEUED && search.state() != v1::RUNNING) return search;
      } else if (!IsTransientRpcError(status)) {
        return FromRpcStatus(status, "GetSearch " + id, options_.address);
      }
      if (Clock::now() > give_up) {
        return Status::Unavailable(fmt::format(
            "search {} did not finish within --wait; it goes on on the server: qatctl search --id {} re-attaches", id,
            id));
      }
      std::this_thread::sleep_for(kPollInterval);
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
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

// The search's own section of the HTML report, from the result document:
// predicted against measured, plotted and tabled; inserted before the job
// report's </body>.
// Under ptq one chart: the predicted accuracy (ptq_w8a8's minus the PTQ
// drops, a percentage) and the measured integer accuracy share the y axis.
// Under hawq the prediction is a score, not a percentage, so the predicted
// front gets its own chart (HAWQ score against predicted latency) and the
// measured points theirs.
std::string SearchSection(const json& result) {
  const std::string board = result.value("board", "");
  const bool hawq = RankedByHawq(result);
  ScatterChart predicted_chart;
  ScatterChart measured_chart;
  if (hawq) {
    predicted_chart.title = "Search: predicted front, HAWQ score against predicted latency on " + board;
    predicted_chart.x_label = "predicted latency (ms)";
    predicted_chart.y_label = "HAWQ score, sum of Omega (lower predicts more accurate; not a percentage)";
    predicted_chart.series_order = {"predicted front", "predicted (candidate)"};
    measured_chart.title = "Search: measured, integer accuracy against latency on " + board;
    measured_chart.x_label = "measured latency (ms)";
    measured_chart.y_label = "integer accuracy (%)";
    measured_chart.series_order = {"measured (candidate)", "measured (uniform)"};
  } else {
    measured_chart.title = "Search: predicted and measured, accuracy against latency on " + board;
    measured_chart.x_label = "latency (ms)";
    measured_chart.y_label = "integer accuracy (%); predicted: ptq_w8a8's minus the PTQ drops";
    measured_chart.series_order = {"predicted front", "predicted (candidate)", "measured (candidate)",
                                   "measured (uniform)"};
  }
  ScatterChart& predicted = hawq ? predicted_chart : measured_chart;
  const char* predicted_field = hawq ? "hawqScore" : "accuracy";
  for (const json& config : result["predictedFront"]) {
    predicted.points.push_back({config["latencyMs"].get<double>(),
                                config[predicted_field].get<double>(),
                                "",
                                "predicted front",
                                "predicted " + BitsText(config["bits"]),
                                {{"kind", "predicted"}}});
  }
  for (const json& v : result["verified"]) {
    const std::string name = v["config"].get<std::string>();
    const bool uniform = v["uniform"].get<bool>();
    const std::string bits = BitsText(v["predicted"]["bits"]);
    if (!uniform) {
      predicted.points.push_back({v["predicted"]["latencyMs"].get<double>(),
                                  v["predicted"][predicted_field].get<double>(),
                                  name,
                                  "predicted (candidate)",
                                  "predicted " + bits,
                                  {{"kind", "predicted"}, {"config", name}}});
    }
    if (!Measured(v)) continue;
    measured_chart.points.push_back({v["measured"]["latencyMs"].get<double>(),
                                     v["measured"]["integerAccuracy"].get<double>(),
                                     name,
                                     uniform ? "measured (uniform)" : "measured (candidate)",
                                     "measured " + bits,
                                     {{"kind", "measured"}, {"config", name}}});
  }
  std::string html = "<section class=\"search\">\n<h2>Mixed-precision search</h2>\n<p class=\"ranking\">" +
                     EscapeHtml(RankingLine(result)) + "</p>\n";
  if (hawq) html += RenderScatterSvg(predicted_chart);
  html += RenderScatterSvg(measured_chart);
  html += fmt::format(
      "<table>\n<tr><th>config</th><th>widths</th><th>predicted acc (PTQ drops){}</th><th>HAWQ score{}</th><th>QAT "
      "acc (integer)</th><th>predicted flash</th><th>flash</th><th>predicted latency ms</th><th>measured latency "
      "ms</th><th>latency error</th><th>bit-exact</th><th>measured front</th></tr>\n",
      hawq ? "" : " (ranked by)", hawq ? " (ranked by)" : "");
  for (const json& v : result["verified"]) {
    const bool ok = Measured(v);
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</"
        "td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        EscapeHtml(v["config"].get<std::string>()), BitsText(v["predicted"]["bits"]),
        Percent(v["predicted"]["accuracy"].get<double>()), HawqText(v["predicted"]),
        Percent(v["measured"]["integerAccuracy"].get<double>()), v["predicted"]["flashBytes"].get<int64_t>(),
        v["measured"]["flashBytes"].get<int64_t>(), v["predicted"]["latencyMs"].get<double>(),
        ok ? fmt::format("{:.3f}", v["measured"]["latencyMs"].get<double>())
           : EscapeHtml("failed: " + v["measurementError"].get<std::string>()),
        ok ? fmt::format("{:+.2f}%", v["latencyErrorPercent"].get<double>()) : "",
        ok ? fmt::format("{}/{}", v["measured"]["bitExactInputs"].get<int64_t>(),
                         v["measured"]["checkedInputs"].get<int64_t>())
           : "",
        v["onMeasuredFront"].get<bool>() ? "yes" : "");
  }
  html += "</table>\n</section>\n";
  return html;
}

// The table on stdout, then for each uniform configuration the candidate
// that matches or beats it.
void PrintResult(const json& result) {
  TextTable table;
  using A = TextTable::Align;
  const bool hawq = RankedByHawq(result);
  // The ranking measure's column is marked "(ranked)"; both are printed.
  table.SetColumns(
      {"config", "widths", hawq ? "PTQ-pred acc" : "PTQ-pred acc (ranked)", hawq ? "HAWQ score (ranked)" : "HAWQ score",
       "QAT acc", "pred flash", "flash", "RAM", "pred ms", "meas ms", "lat err", "bit-exact", "front"},
      {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight,
       A::kRight, A::kRight, A::kLeft});
  for (const json& v : result["verified"]) {
    const bool ok = Measured(v);
    table.AddRow({v["config"].get<std::string>(), BitsText(v["predicted"]["bits"]),
                  Percent(v["predicted"]["accuracy"].get<double>()), HawqText(v["predicted"]),
                  Percent(v["measured"]["integerAccuracy"].get<double>()),
                  std::to_string(v["predicted"]["flashBytes"].get<int64_t>()),
                  std::to_string(v["measured"]["flashBytes"].get<int64_t>()),
                  std::to_string(v["measured"]["ramBytes"].get<int64_t>()),
                  fmt::format("{:.3f}", v["predicted"]["latencyMs"].get<double>()),
                  ok ? fmt::format("{:.3f}", v["measured"]["latencyMs"].get<double>()) : "failed",
                  ok ? fmt::format("{:+.2f}%", v["latencyErrorPercent"].get<double>()) : "-",
                  ok ? fmt::format("{}/{}", v["measured"]["bitExactInputs"].get<int64_t>(),
                                   v["measured"]["checkedInputs"].get<int64_t>())
                     : "-",
                  v["onMeasuredFront"].get<bool>() ? "*" : ""});
  }
  fmt::print("search {} of {} weighted layers on {} ({}{}); sensitivity job {}; {:.0f} s\n", result.value("search", ""),
             result["weightedLayers"].get<int>(), result.value("board", ""), result.value("timingModel", ""),
             result.value("emulated", false) ? ", emulated" : "", result.value("sensitivityJob", ""),
             result.value("wallSeconds", 0.0));
  fmt::print("{}\n", RankingLine(result));
  fmt::print("{}", table.Render());
  for (const json& v : result["verified"]) {
    if (!v["uniform"].get<bool>()) continue;
    const std::string by = v.value("dominatedBy", "");
    fmt::print("{}: {}\n", v["config"].get<std::string>(),
               by.empty() ? "no candidate is at least as accurate with no more flash and latency"
                          : "matched or beaten by " + by + " (accuracy >=, flash <=, measured latency <=)");
  }
}

// OUTPUT.json (the result document as the server wrote it) and
// OUTPUT.html (qatctl report of the search's jobs plus its own section).
Status WriteOutputs(SearchApi& api, const v1::Search& search, const json& result, const SearchFlags& flags) {
  QATLAB_RETURN_IF_ERROR(WriteFileAtomically(flags.output + ".json", search.result_json(), flags.force));
  std::vector<std::string> ids = {result["sensitivityJob"].get<std::string>()};
  for (const json& v : result["verified"]) ids.push_back(v["job"].get<std::string>());
  std::vector<ReportedJob> jobs;
  for (const std::string& id : ids) {
    QATLAB_ASSIGN_OR_RETURN(v1::GetResultsResponse results, api.Results(id));
    ReportedJob job;
    job.job = results.job();
    job.result = results.result();
    job.measurements.assign(results.measurements().begin(), results.measurements().end());
    jobs.push_back(std::move(job));
  }
  ReportOptions report;
  report.title = fmt::format("qatlab search {} on {}: sensitivity job {}", search.id(), search.board_kind(), ids[0]);
  std::string html = RenderHtmlReport(jobs, report);
  const size_t body_end = html.rfind("</body>");
  html.insert(body_end == std::string::npos ? html.size() : body_end, SearchSection(result));
  QATLAB_RETURN_IF_ERROR(WriteFileAtomically(flags.output + ".html", html, flags.force));
  std::fflush(stdout);
  fmt::print(stderr, "search: wrote {}.json and {}.html\n", flags.output, flags.output);
  return Status::Ok();
}

// A HAWQ-ranked search of a job file that says "hessianProbes": 0 would
// train its baseline and then fail for want of traces: refused here, where
// the explicit 0 is still visible (the protobuf message cannot tell it from
// unset, and the server computes 32 probes for unset).
Status CheckTracesAsked(const SearchFlags& flags) {
  if (flags.rank_by != "hawq" || flags.spec.job_file.empty()) return Status::Ok();
  StatusOr<std::string> text = ReadFileBytes(flags.spec.job_file);
  if (!text.ok()) return Status::Ok();  // BuildJobSpec names the file
  const json file = json::parse(*text, nullptr, false);
  if (file.is_discarded() || !file.is_object() || !file.contains("ptq") || !file["ptq"].is_object()) {
    return Status::Ok();
  }
  for (const char* name : {"hessianProbes", "hessian_probes"}) {
    const json& ptq = file["ptq"];
    if (ptq.contains(name) && ptq[name].is_number() && ptq[name].get<double>() == 0) {
      return Status::InvalidArgument(fmt::format(
          "{}: ptq.{} is 0, which asks for no Hessian traces, and --rank-by hawq (the default) ranks by the HAWQ "
          "score they give; remove it (the search computes 32 probes) or set it above 0, or pass --rank-by ptq",
          flags.spec.job_file, name));
    }
  }
  return Status::Ok();
}

// Runs the search; when the server ran it and it failed, `failed_line` gets
// the server's error line ("INVALID_ARGUMENT: no configuration meets ...").
Status Search(const QatctlOptions& options, const SearchFlags& flags, std::string* failed_line) {
  if (flags.id.empty() == flags.spec.job_file.empty()) {
    return Status::InvalidArgument("give a job file to start a search, or --id SE to re-attach to one (not both)");
  }
  if (flags.id.empty() && (flags.candidates < 1 || flags.candidates > 60)) {
    return Status::InvalidArgument(fmt::format("--candidates: {} is outside 1..60", flags.candidates));
  }
  if (flags.id.empty()) QATLAB_RETURN_IF_ERROR(CheckTracesAsked(flags));
  QATLAB_RETURN_IF_ERROR(CheckOutputFree(flags.output + ".json", flags.force));
  QATLAB_RETURN_IF_ERROR(CheckOutputFree(flags.output + ".html", flags.force));
  SearchApi api(options);
  std::string id = flags.id;
  if (id.empty()) {
    v1::SubmitSearchRequest request;
    QATLAB_ASSIGN_OR_RETURN(*request.mutable_spec(), BuildJobSpec(flags.spec));
    request.set_board_kind(flags.board);
    request.set_candidates(flags.candidates);
    if (flags.max_flash_bytes) request.mutable_budgets()->set_max_flash_bytes(*flags.max_flash_bytes);
    if (flags.max_ram_bytes) request.mutable_budgets()->set_max_ram_bytes(*flags.max_ram_bytes);
    if (flags.max_latency_ms) request.mutable_budgets()->set_max_latency_ms(*flags.max_latency_ms);
    request.set_rank_by(flags.rank_by == "ptq" ? v1::Search::RANK_BY_PTQ : v1::Search::RANK_BY_HAWQ);
    if (flags.timeout_seconds) request.set_timeout_seconds(*flags.timeout_seconds);
    QATLAB_ASSIGN_OR_RETURN(v1::Search submitted, api.Submit(request));
    id = submitted.id();
    std::fflush(stdout);
    fmt::print(stderr, "search: {} submitted ({} weighted layers); qatctl search --id {} re-attaches\n", id,
               submitted.weighted_layers(), id);
  }
  QATLAB_ASSIGN_OR_RETURN(v1::Search search,
                          api.Follow(id, std::chrono::milliseconds(static_cast<int64_t>(flags.wait_seconds * 1000))));
  if (search.state() == v1::CANCELLED) return Status::Cancelled(fmt::format("search {} was cancelled", id));
  if (search.state() != v1::SUCCEEDED) {
    // The server's error line, as the orchestrator described it.
    *failed_line = search.error().empty() ? "search " + id + " failed" : search.error();
    return Status::FailedPrecondition(*failed_line);
  }
  const json result = json::parse(search.result_json(), nullptr, false);
  if (result.is_discarded()) return Status::Internal(fmt::format("search {}: its result is not JSON", id));
  PrintResult(result);
  return WriteOutputs(api, search, result, flags);
}

int Fail(const Status& status) {
  std::fflush(stdout);
  fmt::print(stderr, "qatctl: error: {}\n", DescribeStatus(status));
  return 1;
}

}  // namespace

bool IsSearchId(const std::string& id) { return id.rfind("se-", 0) == 0; }

StatusOr<int64_t> ParseSearchTimeout(const std::string& text) {
  auto invalid = [&] {
    return Status::InvalidArgument(fmt::format(
        "--time-limit: '{}' is not a duration: a whole number of seconds, or with a unit, e.g. 90s, 15m, 2h, 1d (at "
        "least 1 s, at most a year)",
        text.substr(0, 64)));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return invalid();
  const int64_t count = std::stoll(text.substr(0, digits));
  static const std::map<std::string, int64_t> kSecondsPerUnit = {
      {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 24 * 3600}};
  const auto unit = kSecondsPerUnit.find(text.substr(digits));
  if (unit == kSecondsPerUnit.end()) return invalid();
  const int64_t scale = unit->second;
  if (count == 0 || count > kMaxTimeoutSeconds / scale) return invalid();
  return count * scale;
}

CLI::App* AddSearchCommand(CLI::App& app, SearchFlags* flags) {
  CLI::App* search = app.add_subcommand(
      "search", "mixed-precision search: the most accurate per-layer bit widths within a board's budgets");
  search->add_option("job_file", flags->spec.job_file, "job file: the model, data, training and seed (JSON)");
  search->add_option("--id", flags->id, "re-attach to search SE (se-...) instead of starting one");
  search->add_option("--board", flags->board, "board kind the latency is measured on (default mps2-an386)");
  search->add_option_function<int64_t>(
      "--max-flash", [flags](const int64_t& v) { flags->max_flash_bytes = v; }, "flash budget in bytes (.qmodel)");
  search->add_option_function<int64_t>(
      "--max-ram", [flags](const int64_t& v) { flags->max_ram_bytes = v; }, "RAM budget in bytes (activation arena)");
  search->add_option_function<double>(
      "--max-latency", [flags](const double& v) { flags->max_latency_ms = v; }, "latency budget in milliseconds");
  search->add_option("--candidates", flags->candidates, "configurations QAT-trained and measured (default 8)");
  search
      ->add_option("--rank-by", flags->rank_by,
                   "what the optimiser ranks by: hawq (default; the HAWQ score from the layers' Hessian traces, "
                   "which ranked the measured QAT accuracy better on every model measured) or ptq (the layers' PTQ "
                   "accuracy drops)")
      ->check(CLI::IsMember({"hawq", "ptq"}));
  search->add_option_function<std::string>(
      "--time-limit",
      [flags](const std::string& text) {
        StatusOr<int64_t> seconds = ParseSearchTimeout(text);
        if (!seconds.ok()) throw CLI::ValidationError(std::string(seconds.status().message()));
        flags->timeout_seconds = *seconds;
      },
      "time limit of the search on the server, e.g. 90s, 30m, 2h (default none): past it its jobs and measurements "
      "are cancelled and it ends FAILED (\"search timed out after N s in step STEP\")");
  search->add_option("-o,--output", flags->output, "writes OUTPUT.json and OUTPUT.html (default: search)");
  search->add_flag("--force", flags->force, "overwrite OUTPUT.json and OUTPUT.html");
  search->add_option("--wait", flags->wait_seconds,
                     "seconds to wait for the search to finish (it goes on on the server after)");
  return search;
}

int RunSearch(const QatctlOptions& options, const SearchFlags& flags) {
  std::string failed_line;
  Status status = Search(options, flags, &failed_line);
  if (status.ok()) return 0;
  if (failed_line.empty()) return Fail(status);
  std::fflush(stdout);
  fmt::print(stderr, "qatctl: error: {}\n", failed_line);
  return 1;
}

int ShowSearch(const QatctlOptions& options, const std::string& id) {
  SearchApi api(options);
  StatusOr<v1::Search> search = api.Get(id);
  if (!search.ok()) return Fail(search.status());
  if (options.json) {
    std::string text;
    google::protobuf::util::JsonPrintOptions print;
    print.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(*search, &text, print);
    fmt::print("{}", text);
    return 0;
  }
  fmt::print("search {}: {}{}\n", search->id(), v1::JobState_Name(search->state()),
             search->step().empty() ? "" : " (step " + search->step() + ")");
  fmt::print("board {}, {} candidates, {} weighted layers, ranked by {}{}\n", search->board_kind(),
             search->candidates(), search->weighted_layers(),
             search->rank_by() == v1::Search::RANK_BY_HAWQ ? "the HAWQ score" : "the PTQ drops",
             search->timeout_seconds() > 0 ? fmt::format(", time limit {} s", search->timeout_seconds()) : "");
  for (const std::string& line : search->log()) fmt::print("  {}\n", line);
  if (!search->error().empty()) fmt::print("error: {}\n", search->error());
  if (search->job_ids_size() > 0) {
    std::string jobs;
    for (const std::string& job : search->job_ids()) jobs += (jobs.empty() ? "" : " ") + job;
    fmt::print("jobs: {}\n", jobs);
  }
  return 0;
}

int CancelSearch(const QatctlOptions& options, const std::string& id) {
  SearchApi api(options);
  StatusOr<v1::Search> search = api.Cancel(id);
  if (!search.ok()) return Fail(search.status());
  fmt::print("search {}: {} ({} jobs cancelled unless finished)\n", search->id(), v1::JobState_Name(search->state()),
             search->job_ids_size());
  return 0;
}

}  // namespace qatlab
