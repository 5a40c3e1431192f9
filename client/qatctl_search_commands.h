// `qatctl search SPEC --board KIND [--max-flash BYTES] [--max-ram BYTES]
// [--max-latency MS] [--candidates K] [--rank-by hawq|ptq] [--timeout
// DURATION]`: the hardware-in-the-loop
// mixed-precision search (docs/search.md). The server runs it
// (SubmitSearch; the orchestrator is search_run/search_orchestrator.h);
// qatctl submits it, prints its progress lines as they come (GetSearch
// polls), then prints the table and writes the result document
// (<output>.json, the search's result_json) and the HTML report
// (<output>.html, rendered here from the result and the search's jobs).
// `qatctl search --id se-...` re-attaches to a search submitted before.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/job_spec_flags.h"
#include "client/qatctl_commands.h"

namespace CLI {
class App;
}  // namespace CLI

namespace qatlab {

struct SearchFlags {
  SubmitFlags spec;  // the job file (model, data, training, seed)
  std::string id;    // set: re-attach to this search instead of submitting one
  std::string board = "mps2-an386";
  std::optional<int64_t> max_flash_bytes;
  std::optional<int64_t> max_ram_bytes;
  std::optional<double> max_latency_ms;
  int candidates = 8;
  std::string rank_by = "hawq";  // "hawq" or "ptq": what the optimiser ranks by
  // The search's time limit on the server (SubmitSearchRequest.timeout_seconds);
  // unset: none.
  std::optional<int64_t> timeout_seconds;
  std::string output = "search";  // writes <output>.json and <output>.html
  bool force = false;             // overwrite them
  // How long to wait for the search to finish.
  double wait_seconds = 24 * 3600;
};

// Adds the `search` subcommand with its flags to `app`; returns it. `flags`
// must outlive parsing. The optional budgets are set when given.
CLI::App* AddSearchCommand(CLI::App& app, SearchFlags* flags);

// Runs (or re-attaches to) the search; returns the process exit status (0
// when it succeeded and its outputs were written, 1 with one error line on
// stderr otherwise).
int RunSearch(const QatctlOptions& options, const SearchFlags& flags);

// True for a search id ("se-...").
bool IsSearchId(const std::string& id);

// "90" or "90s", "15m", "2h", "1d" (a whole number and an optional unit) ->
// seconds. InvalidArgument naming the text for anything else, zero, or more
// than a year.
StatusOr<int64_t> ParseSearchTimeout(const std::string& text);

// `qatctl show se-...`: the search's state, step, progress lines and jobs.
int ShowSearch(const QatctlOptions& options, const std::string& id);

// `qatctl cancel se-...`: CancelSearch.
int CancelSearch(const QatctlOptions& options, const std::string& id);

}  // namespace qatlab
