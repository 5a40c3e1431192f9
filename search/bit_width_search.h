// The optimisation of mixed-precision search: per weighted layer a choice of
// weight width, each choice with two predictions of what it costs in
// accuracy (the PTQ accuracy drop and the HAWQ score Omega(l, b)) and
// predicted costs (flash bytes, RAM bytes, cycles), all adding up over the
// layers; the answer is the Pareto front of the ranking measure (one of the
// two, SearchProblem::ranking) against flash and latency under budgets.
//
// Solver: dynamic programming over the layers with Pareto pruning. After
// layer l the state set holds every non-dominated partial assignment of
// layers 0..l as (rank, flash, ram, cycles) sums, rank the ranking
// measure's; a partial assignment that another one beats or equals on all
// four sums can be dropped, because the same choices for the remaining
// layers add the same amounts to both (the objectives are additive and
// separable: a sum of PTQ drops, or of Omega(l, b_l)). Partial sums that, even with the
// cheapest choices for the remaining layers, exceed a budget are dropped too.
// The result is exact (the same front exhaustive enumeration gives, which
// the tests check), and in practice small: a handful of widths per layer keep
// the front to hundreds of points where enumeration of 3^N configurations
// would be 3^20 = 3.5e9 for a 20-layer model. An integer program would give
// one optimum per budget; the front from one DP pass serves every budget and
// the plot at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab::search {

// What the optimiser ranks configurations by; lower is predicted more
// accurate for both.
enum class RankingMeasure {
  // The sum of the layers' PTQ accuracy drops (WidthOption::accuracy_drop).
  kPtqDrop,
  // The HAWQ score, the sum of the layers' Omega(l, b)
  // (WidthOption::hawq_score): a second-order score, not a percentage.
  kHawqScore,
};

// "ptq" or "hawq": the names the API, the result JSON and qatctl use.
const char* RankingMeasureName(RankingMeasure measure);

// One width for one layer and what choosing it adds.
struct WidthOption {
  int bits = 8;
  double accuracy_drop = 0;  // percentage points lost against the reference; may be negative
  int64_t flash_bytes = 0;   // added to SearchProblem::base_flash_bytes
  int64_t ram_bytes = 0;     // added to SearchProblem::base_ram_bytes
  double cycles = 0;         // added to SearchProblem::base_cycles
  // Omega(l, bits), the layer's HAWQ score at this width (>= 0); meaningful
  // only when SearchProblem::has_hawq_scores.
  double hawq_score = 0;
};

struct SearchProblem {
  // layers[l]: the widths layer l may take. REQUIRES: each non-empty.
  std::vector<std::vector<WidthOption>> layers;
  double reference_accuracy = 0;  // accuracy the drops are measured from (percent)
  int64_t base_flash_bytes = 0;   // what does not depend on the widths
  int64_t base_ram_bytes = 0;
  double base_cycles = 0;
  double clock_hz = 0;  // converts cycles to milliseconds; 0: latency budgets cannot be checked
  // True when every option's hawq_score is set (the sensitivity job had
  // Hessian traces). REQUIRED for ranking by kHawqScore.
  bool has_hawq_scores = false;
  // The default is the measure every problem has; the search's own default
  // (HAWQ) is the server's (docs/search.md).
  RankingMeasure ranking = RankingMeasure::kPtqDrop;
};

// Budgets; an unset one does not constrain.
struct Budgets {
  std::optional<int64_t> max_flash_bytes;
  std::optional<int64_t> max_ram_bytes;
  std::optional<double> max_latency_ms;
};

// A configuration with its predicted accuracy and costs.
struct PredictedConfig {
  std::vector<int> bits;  // per weighted layer
  double accuracy_drop = 0;
  double accuracy = 0;  // reference_accuracy - accuracy_drop
  // The sum of Omega(l, bits[l]); 0 when the problem has no HAWQ scores.
  double hawq_score = 0;
  // The ranking measure's sum (accuracy_drop or hawq_score): what the
  // front and the candidates are chosen by, lower predicted more accurate.
  double rank = 0;
  int64_t flash_bytes = 0;
  int64_t ram_bytes = 0;
  double cycles = 0;
  double latency_ms = 0;  // cycles / clock_hz, 0 when clock_hz is 0
};

// The predicted cost and accuracy of one configuration.
// REQUIRES: bits.size() == problem.layers.size(); each bits[l] among layer l's options (else InvalidArgument).
StatusOr<PredictedConfig> Predict(const SearchProblem& problem, const std::vector<int>& bits);

// Every configuration within the budgets that no other dominates on
// (rank, flash, RAM, cycles), ordered by increasing cycles, then flash, then
// rank. Errors: InvalidArgument for a malformed problem (no layers, a layer
// without options, a latency budget with clock_hz 0, ranking by kHawqScore
// without has_hawq_scores);
// InvalidArgument too when nothing meets the budgets, naming the smallest reachable
// flash, RAM and latency ("no configuration meets the budgets: the smallest
// reachable flash is 5120 bytes, RAM 7840 bytes, latency 1.234 ms").
StatusOr<std::vector<PredictedConfig>> SolveParetoFront(const SearchProblem& problem, const Budgets& budgets);

// Up to k mixed configurations from a front (as SolveParetoFront orders it)
// to verify; uniform configurations (every layer at one width) are left out,
// since the search verifies those anyway. In this order, each at most once:
//   1. the most accurate;
//   2. for each of `rivals` (the uniform configurations' predictions), the
//      most accurate one with no more flash and no more cycles than the rival:
//      the configuration that could beat it outright, which the engineer's
//      question ("better than uniform w4 at no more cost?") needs verified;
//   3. the rest at evenly spaced positions of the front by latency.
// Deterministic. REQUIRES: k >= 0.
std::vector<PredictedConfig> SelectCandidates(const std::vector<PredictedConfig>& front, int k,
                                              const std::vector<PredictedConfig>& rivals = {});

// True when every layer has the same width.
bool IsUniform(const std::vector<int>& bits);

// "8,4,2" for bits {8, 4, 2}.
std::string BitsText(const std::vector<int>& bits);

}  // namespace qatlab::search
