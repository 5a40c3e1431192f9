// `qatctl search SPEC --board KIND [--max-flash BYTES] [--max-ram BYTES]
// [--max-latency MS] [--candidates K]`: the hardware-in-the-loop
// mixed-precision search (docs/search.md), orchestrated from the client over
// the ExperimentService API:
//   1. one job (skip_qat) trains the float baseline and quantizes it for the
//      probe configurations of search/probe_plan.h;
//   2. its uniform w8/w4/w2 PTQ models and the mixed probe are measured on a
//      board of the kind (per-layer cycles);
//   3. search/bit_width_search.h solves for the predicted Pareto front under
//      the budgets and picks K candidates along it;
//   4. the candidates and the uniform w8, w4, w2 configurations are
//      QAT-trained (SubmitCandidateJobs) and measured on the board, outputs
//      checked bit-exact;
//   5. predicted against measured is printed, and written as JSON
//      (<output>.json) and as the HTML report (<output>.html).
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
  std::string board = "mps2-an386";
  std::optional<int64_t> max_flash_bytes;
  std::optional<int64_t> max_ram_bytes;
  std::optional<double> max_latency_ms;
  int candidates = 8;
  std::string output = "search";  // writes <output>.json and <output>.html
  bool force = false;             // overwrite them
  // How long to wait for each job and for each round of measurements.
  double wait_seconds = 6 * 3600;
};

// Adds the `search` subcommand with its flags to `app`; returns it. `flags`
// must outlive parsing. The optional budgets are set when given.
CLI::App* AddSearchCommand(CLI::App& app, SearchFlags* flags);

// Runs the search; returns the process exit status (0 when every step
// succeeded, 1 with one error line on stderr otherwise).
int RunSearch(const QatctlOptions& options, const SearchFlags& flags);

}  // namespace qatlab
