#include "search/bit_width_search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <tuple>

#include <fmt/format.h>

namespace qatlab::search {
namespace {

// A partial assignment: the sums over the layers chosen so far.
struct Partial {
  double rank = 0;  // the ranking measure's sum
  int64_t flash = 0;
  int64_t ram = 0;
  double cycles = 0;
  std::vector<int> bits;
};

// True when a is at least as good as b on every sum (so b can go).
bool Covers(const Partial& a, const Partial& b) {
  return a.rank <= b.rank && a.flash <= b.flash && a.ram <= b.ram && a.cycles <= b.cycles;
}

// The non-dominated members of `states`; of equal ones the first (in the
// order of the sort below, which makes the result independent of input order
// up to exact ties, which keep the lexicographically smallest bits).
std::vector<Partial> Prune(std::vector<Partial> states) {
  std::sort(states.begin(), states.end(), [](const Partial& a, const Partial& b) {
    return std::tie(a.cycles, a.flash, a.ram, a.rank, a.bits) < std::tie(b.cycles, b.flash, b.ram, b.rank, b.bits);
  });
  std::vector<Partial> kept;
  for (Partial& candidate : states) {
    bool dominated = false;
    for (const Partial& k : kept) {
      if (Covers(k, candidate)) {
        dominated = true;
        break;
      }
    }
    if (!dominated) kept.push_back(std::move(candidate));
  }
  return kept;
}

double RankOf(const SearchProblem& problem, const WidthOption& option) {
  return problem.ranking == RankingMeasure::kHawqScore ? option.hawq_score : option.accuracy_drop;
}

double LatencyMs(const SearchProblem& problem, double cycles) {
  return problem.clock_hz > 0 ? cycles / problem.clock_hz * 1e3 : 0;
}

Status CheckProblem(const SearchProblem& problem, const Budgets& budgets) {
  if (problem.layers.empty()) return Status::InvalidArgument("search problem: the model has no weighted layer");
  for (size_t l = 0; l < problem.layers.size(); ++l) {
    if (problem.layers[l].empty()) {
      return Status::InvalidArgument(fmt::format("search problem: layer {} has no width to choose", l));
    }
  }
  if (budgets.max_latency_ms && !(problem.clock_hz > 0)) {
    return Status::InvalidArgument("search problem: a latency budget needs the board's clock (clock_hz is 0)");
  }
  if (problem.ranking == RankingMeasure::kHawqScore && !problem.has_hawq_scores) {
    return Status::InvalidArgument("search problem: ranking by the HAWQ score needs the layers' HAWQ scores");
  }
  return Status::Ok();
}

}  // namespace

const char* RankingMeasureName(RankingMeasure measure) {
  return measure == RankingMeasure::kHawqScore ? "hawq" : "ptq";
}

std::string BitsText(const std::vector<int>& bits) {
  std::string text;
  for (size_t i = 0; i < bits.size(); ++i) {
    if (i > 0) text += ",";
    text += std::to_string(bits[i]);
  }
  return text;
}

StatusOr<PredictedConfig> Predict(const SearchProblem& problem, const std::vector<int>& bits) {
  if (bits.size() != problem.layers.size()) {
    return Status::InvalidArgument(fmt::format("configuration {}: {} widths for {} weighted layers", BitsText(bits),
                                               bits.size(), problem.layers.size()));
  }
  PredictedConfig config;
  config.bits = bits;
  config.flash_bytes = problem.base_flash_bytes;
  config.ram_bytes = problem.base_ram_bytes;
  config.cycles = problem.base_cycles;
  for (size_t l = 0; l < bits.size(); ++l) {
    const auto& options = problem.layers[l];
    auto option = std::find_if(options.begin(), options.end(), [&](const WidthOption& o) { return o.bits == bits[l]; });
    if (option == options.end()) {
      return Status::InvalidArgument(
          fmt::format("configuration {}: layer {} has no {}-bit option", BitsText(bits), l, bits[l]));
    }
    config.accuracy_drop += option->accuracy_drop;
    if (problem.has_hawq_scores) config.hawq_score += option->hawq_score;
    config.rank += RankOf(problem, *option);
    config.flash_bytes += option->flash_bytes;
    config.ram_bytes += option->ram_bytes;
    config.cycles += option->cycles;
  }
  config.accuracy = problem.reference_accuracy - config.accuracy_drop;
  config.latency_ms = LatencyMs(problem, config.cycles);
  return config;
}

StatusOr<std::vector<PredictedConfig>> SolveParetoFront(const SearchProblem& problem, const Budgets& budgets) {
  QATLAB_RETURN_IF_ERROR(CheckProblem(problem, budgets));
  const size_t n = problem.layers.size();

  // The least each suffix of layers can add, for pruning against budgets and
  // for the "smallest reachable" message.
  struct Least {
    int64_t flash = 0;
    int64_t ram = 0;
    double cycles = 0;
  };
  std::vector<Least> least_from(n + 1);
  for (size_t l = n; l-- > 0;) {
    Least least{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max(),
                std::numeric_limits<double>::infinity()};
    for (const WidthOption& option : problem.layers[l]) {
      least.flash = std::min(least.flash, option.flash_bytes);
      least.ram = std::min(least.ram, option.ram_bytes);
      least.cycles = std::min(least.cycles, option.cycles);
    }
    least_from[l] = {least_from[l + 1].flash + least.flash, least_from[l + 1].ram + least.ram,
                     least_from[l + 1].cycles + least.cycles};
  }
  // A small tolerance on latency: cycles are sums of doubles.
  const double max_cycles = budgets.max_latency_ms ? *budgets.max_latency_ms * 1e-3 * problem.clock_hz * (1 + 1e-12)
                                                   : std::numeric_limits<double>::infinity();
  const auto fits = [&](const Partial& p, size_t next_layer) {
    const Least& rest = least_from[next_layer];
    if (budgets.max_flash_bytes && problem.base_flash_bytes + p.flash + rest.flash > *budgets.max_flash_bytes) {
      return false;
    }
    if (budgets.max_ram_bytes && problem.base_ram_bytes + p.ram + rest.ram > *budgets.max_ram_bytes) return false;
    return problem.base_cycles + p.cycles + rest.cycles <= max_cycles;
  };

  std::vector<Partial> states(1);
  if (!fits(states[0], 0)) {
    return Status::InvalidArgument(fmt::format(
        "no configuration meets the budgets: the smallest reachable flash is {} bytes, RAM {} bytes, latency {:.3f} "
        "ms (each alone; every layer at its cheapest width)",
        problem.base_flash_bytes + least_from[0].flash, problem.base_ram_bytes + least_from[0].ram,
        LatencyMs(problem, problem.base_cycles + least_from[0].cycles)));
  }
  for (size_t l = 0; l < n; ++l) {
    std::vector<Partial> next;
    next.reserve(states.size() * problem.layers[l].size());
    for (const Partial& state : states) {
      for (const WidthOption& option : problem.layers[l]) {
        Partial extended{state.rank + RankOf(problem, option), state.flash + option.flash_bytes,
                         state.ram + option.ram_bytes, state.cycles + option.cycles, state.bits};
        extended.bits.push_back(option.bits);
        if (fits(extended, l + 1)) next.push_back(std::move(extended));
      }
    }
    states = Prune(std::move(next));
  }
  if (states.empty()) {
    // Each budget alone is reachable (checked above) but not all of them at once.
    return Status::InvalidArgument(fmt::format(
        "no configuration meets all the budgets at once; each alone is reachable: the smallest flash is {} bytes, "
        "RAM {} bytes, latency {:.3f} ms",
        problem.base_flash_bytes + least_from[0].flash, problem.base_ram_bytes + least_from[0].ram,
        LatencyMs(problem, problem.base_cycles + least_from[0].cycles)));
  }
  std::vector<PredictedConfig> front;
  front.reserve(states.size());
  for (const Partial& state : states) {
    QATLAB_ASSIGN_OR_RETURN(PredictedConfig config, Predict(problem, state.bits));
    front.push_back(std::move(config));
  }
  std::sort(front.begin(), front.end(), [](const PredictedConfig& a, const PredictedConfig& b) {
    return std::tie(a.cycles, a.flash_bytes, a.rank, a.bits) < std::tie(b.cycles, b.flash_bytes, b.rank, b.bits);
  });
  return front;
}

bool IsUniform(const std::vector<int>& bits) {
  return std::adjacent_find(bits.begin(), bits.end(), std::not_equal_to<>()) == bits.end();
}

std::vector<PredictedConfig> SelectCandidates(const std::vector<PredictedConfig>& front, int k,
                                              const std::vector<PredictedConfig>& rivals) {
  std::vector<size_t> pool;  // indices of the front's mixed configurations, in the front's order
  for (size_t i = 0; i < front.size(); ++i) {
    if (!IsUniform(front[i].bits)) pool.push_back(i);
  }
  const size_t want = std::min(pool.size(), static_cast<size_t>(std::max(k, 0)));
  std::vector<size_t> chosen;  // positions in pool, in the order taken
  std::vector<bool> taken(pool.size(), false);
  auto take = [&](size_t at) {
    if (chosen.size() < want && !taken[at]) {
      taken[at] = true;
      chosen.push_back(at);
    }
  };
  // The most accurate of those that pass `fits` (the cheapest of equals: the front is ordered by cost).
  auto most_accurate = [&](auto fits) -> std::optional<size_t> {
    std::optional<size_t> best;
    for (size_t at = 0; at < pool.size(); ++at) {
      const PredictedConfig& c = front[pool[at]];
      if (!fits(c)) continue;
      if (!best || c.rank < front[pool[*best]].rank) best = at;
    }
    return best;
  };
  if (want == 0) return {};
  take(*most_accurate([](const PredictedConfig&) { return true; }));
  for (const PredictedConfig& rival : rivals) {
    std::optional<size_t> at = most_accurate(
        [&](const PredictedConfig& c) { return c.flash_bytes <= rival.flash_bytes && c.cycles <= rival.cycles; });
    if (at) take(*at);
  }
  // Evenly spaced positions along the front by latency, the nearest free one above (else below) each.
  for (size_t i = 0; i < want && chosen.size() < want; ++i) {
    const size_t position =
        want == 1 ? 0
                  : static_cast<size_t>(std::llround(static_cast<double>(i) * static_cast<double>(pool.size() - 1) /
                                                     static_cast<double>(want - 1)));
    size_t at = position;
    while (at < pool.size() && taken[at]) ++at;
    if (at == pool.size()) {
      at = position;
      while (taken[at]) --at;  // some position below is free: fewer taken than pool.size()
    }
    take(at);
  }
  std::vector<PredictedConfig> result;
  for (size_t at : chosen) result.push_back(front[pool[at]]);
  return result;
}

}  // namespace qatlab::search
