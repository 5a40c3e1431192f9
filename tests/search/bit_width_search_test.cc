// The optimiser of the mixed-precision search: on seeded random problems the
// dynamic programme's front is exactly the set of non-dominated
// configurations that exhaustive enumeration finds, with and without
// budgets; budgets nothing meets are named; candidates spread along the front.
#include "search/bit_width_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace qatlab::search {
namespace {

// A problem without layers yet: reference accuracy 90%, 1000 flash bytes,
// 4096 RAM bytes and `base_cycles` outside the layers, a 25 MHz clock, HAWQ
// scores given.
SearchProblem ProblemBase(double base_cycles) {
  SearchProblem problem;
  problem.reference_accuracy = 90;
  problem.base_flash_bytes = 1000;
  problem.base_ram_bytes = 4096;
  problem.base_cycles = base_cycles;
  problem.clock_hz = 25e6;
  problem.has_hawq_scores = true;
  return problem;
}

// A problem of `layers` layers, each with widths 8, 4, 2; costs fall and drops
// rise (roughly) with fewer bits, with random magnitudes, so fronts are not
// trivial. Integer-valued drops and cycles keep the sums exact.
SearchProblem RandomProblem(int layers, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> drop(0, 20);
  std::uniform_int_distribution<int> size(50, 2000);
  std::uniform_int_distribution<int> cycles(1000, 50000);
  SearchProblem problem = ProblemBase(20000);
  for (int l = 0; l < layers; ++l) {
    const int bytes8 = size(random);
    const int cycles8 = cycles(random);
    std::vector<WidthOption> options;
    // HAWQ scores in 1/64ths (exact sums), rising with fewer bits but not in
    // step with the drops.
    const int score8 = drop(random);
    options.push_back({8, 0, 0, 0, static_cast<double>(cycles8), score8 / 64.0});
    const int drop4 = drop(random);
    // Whole cycle counts, as a board reports them.
    const int cycles4 = cycles8 - cycles(random) / 4;
    const int cycles2 = cycles8 - cycles(random) / 3;
    const int score4 = score8 + drop(random);
    options.push_back({4, static_cast<double>(drop4) / 4, -bytes8 / 2, 0, static_cast<double>(cycles4), score4 / 64.0});
    options.push_back({2, static_cast<double>(drop4 + drop(random)), -bytes8 * 3 / 4, 0, static_cast<double>(cycles2),
                       (score4 + 4 * drop(random)) / 64.0});
    problem.layers.push_back(options);
  }
  return problem;
}

// On (rank, flash, RAM, cycles): rank is the ranking measure's sum, so this
// is the problem's own criterion whichever measure ranks.
bool Dominates(const PredictedConfig& a, const PredictedConfig& b) {
  const bool no_worse =
      a.rank <= b.rank && a.flash_bytes <= b.flash_bytes && a.ram_bytes <= b.ram_bytes && a.cycles <= b.cycles;
  const bool better =
      a.rank < b.rank || a.flash_bytes < b.flash_bytes || a.ram_bytes < b.ram_bytes || a.cycles < b.cycles;
  return no_worse && better;
}

// Every configuration, filtered by the budgets, then the non-dominated ones
// as a set of (rank, flash, ram, cycles) (equal points count once).
std::set<std::vector<double>> BruteForceFront(const SearchProblem& problem, const Budgets& budgets) {
  const int n = static_cast<int>(problem.layers.size());
  std::vector<PredictedConfig> all;
  std::vector<size_t> choice(n, 0);
  for (;;) {
    std::vector<int> bits;
    for (int l = 0; l < n; ++l) bits.push_back(problem.layers[l][choice[l]].bits);
    StatusOr<PredictedConfig> config = Predict(problem, bits);
    EXPECT_TRUE(config.ok());
    const bool fits = (!budgets.max_flash_bytes || config->flash_bytes <= *budgets.max_flash_bytes) &&
                      (!budgets.max_ram_bytes || config->ram_bytes <= *budgets.max_ram_bytes) &&
                      (!budgets.max_latency_ms || config->latency_ms <= *budgets.max_latency_ms);
    if (fits) all.push_back(*config);
    int l = 0;
    while (l < n && ++choice[l] == problem.layers[l].size()) choice[l++] = 0;
    if (l == n) break;
  }
  std::set<std::vector<double>> front;
  for (const PredictedConfig& c : all) {
    const bool dominated =
        std::any_of(all.begin(), all.end(), [&](const PredictedConfig& o) { return Dominates(o, c); });
    if (!dominated) {
      front.insert({c.rank, static_cast<double>(c.flash_bytes), static_cast<double>(c.ram_bytes), c.cycles});
    }
  }
  return front;
}

std::set<std::vector<double>> AsSet(const std::vector<PredictedConfig>& front) {
  std::set<std::vector<double>> points;
  for (const PredictedConfig& c : front) {
    points.insert({c.rank, static_cast<double>(c.flash_bytes), static_cast<double>(c.ram_bytes), c.cycles});
  }
  return points;
}

TEST(SolveParetoFront, EqualsExhaustiveEnumerationOnRandomProblems) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    const int layers = 1 + static_cast<int>(seed % 7);
    SearchProblem problem = RandomProblem(layers, seed);

    StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, {});

    ASSERT_TRUE(front.ok()) << front.status().ToString();
    EXPECT_EQ(AsSet(*front), BruteForceFront(problem, {})) << "seed " << seed << ", " << layers << " layers";
    // No two configurations on the front are the same point.
    EXPECT_EQ(AsSet(*front).size(), front->size()) << "seed " << seed;
  }
}

TEST(SolveParetoFront, RankedByTheHawqScoreEqualsExhaustiveEnumerationOfThatScore) {
  for (uint32_t seed = 200; seed < 230; ++seed) {
    const int layers = 1 + static_cast<int>(seed % 7);
    SearchProblem problem = RandomProblem(layers, seed);
    problem.ranking = RankingMeasure::kHawqScore;

    StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, {});

    ASSERT_TRUE(front.ok()) << front.status().ToString();
    EXPECT_EQ(AsSet(*front), BruteForceFront(problem, {})) << "seed " << seed << ", " << layers << " layers";
    for (const PredictedConfig& c : *front) EXPECT_EQ(c.rank, c.hawq_score) << BitsText(c.bits);
  }
}

// Two layers whose 2-bit options cost the same: by the PTQ drops layer 1
// is the one to narrow (1 point against 10), by the HAWQ score layer 0
// (Omega 0.1 against 5). Each ranking keeps its own single-2-bit
// configuration on the front, drops the other (same cost, worse by its
// measure), and makes it the candidate.
SearchProblem DisagreeingProblem() {
  SearchProblem problem = ProblemBase(500);
  // {bits, PTQ drop, flash, RAM, cycles, Omega}
  problem.layers.push_back({{8, 0, 0, 0, 1000, 0.001}, {2, 10, -300, 0, 600, 0.1}});
  problem.layers.push_back({{8, 0, 0, 0, 1000, 0.002}, {2, 1, -300, 0, 600, 5}});
  return problem;
}

std::set<std::vector<int>> FrontBits(const std::vector<PredictedConfig>& front) {
  std::set<std::vector<int>> bits;
  for (const PredictedConfig& c : front) bits.insert(c.bits);
  return bits;
}

TEST(SolveParetoFront, TheHawqScoreAndThePtqDropsPickDifferentFrontsWhereTheyDisagree) {
  SearchProblem by_ptq = DisagreeingProblem();
  by_ptq.ranking = RankingMeasure::kPtqDrop;
  SearchProblem by_hawq = DisagreeingProblem();
  by_hawq.ranking = RankingMeasure::kHawqScore;

  StatusOr<std::vector<PredictedConfig>> ptq_front = SolveParetoFront(by_ptq, {});
  StatusOr<std::vector<PredictedConfig>> hawq_front = SolveParetoFront(by_hawq, {});

  ASSERT_TRUE(ptq_front.ok()) << ptq_front.status().ToString();
  ASSERT_TRUE(hawq_front.ok()) << hawq_front.status().ToString();
  EXPECT_EQ(FrontBits(*ptq_front), (std::set<std::vector<int>>{{8, 8}, {8, 2}, {2, 2}}));
  EXPECT_EQ(FrontBits(*hawq_front), (std::set<std::vector<int>>{{8, 8}, {2, 8}, {2, 2}}));
  const std::vector<PredictedConfig> ptq_pick = SelectCandidates(*ptq_front, 1);
  const std::vector<PredictedConfig> hawq_pick = SelectCandidates(*hawq_front, 1);
  ASSERT_EQ(ptq_pick.size(), 1u);
  ASSERT_EQ(hawq_pick.size(), 1u);
  EXPECT_EQ(ptq_pick[0].bits, (std::vector<int>{8, 2}));
  EXPECT_EQ(hawq_pick[0].bits, (std::vector<int>{2, 8}));
  // Both measures are predicted for every configuration, whichever ranked.
  EXPECT_DOUBLE_EQ(hawq_pick[0].accuracy, 90 - 10);
  EXPECT_DOUBLE_EQ(hawq_pick[0].hawq_score, 0.1 + 0.002);
  EXPECT_DOUBLE_EQ(hawq_pick[0].rank, hawq_pick[0].hawq_score);
  EXPECT_DOUBLE_EQ(ptq_pick[0].hawq_score, 0.001 + 5);
  EXPECT_DOUBLE_EQ(ptq_pick[0].rank, ptq_pick[0].accuracy_drop);
}

TEST(SolveParetoFront, RankingByTheHawqScoreNeedsTheScores) {
  SearchProblem problem = DisagreeingProblem();
  problem.ranking = RankingMeasure::kHawqScore;
  problem.has_hawq_scores = false;
  StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, {});
  ASSERT_FALSE(front.ok());
  EXPECT_EQ(front.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(front.status().message().find("HAWQ scores"), std::string::npos) << front.status().message();
}

TEST(SolveParetoFront, EqualsExhaustiveEnumerationUnderBudgets) {
  int constrained = 0;
  for (uint32_t seed = 100; seed < 130; ++seed) {
    SearchProblem problem = RandomProblem(6, seed);
    StatusOr<std::vector<PredictedConfig>> unconstrained = SolveParetoFront(problem, {});
    ASSERT_TRUE(unconstrained.ok());
    // Budgets at the median of the unconstrained front's flash and latency.
    std::vector<int64_t> flashes;
    std::vector<double> latencies;
    for (const PredictedConfig& c : *unconstrained) {
      flashes.push_back(c.flash_bytes);
      latencies.push_back(c.latency_ms);
    }
    std::sort(flashes.begin(), flashes.end());
    std::sort(latencies.begin(), latencies.end());
    Budgets budgets;
    budgets.max_flash_bytes = flashes[flashes.size() / 2];
    if (seed % 2 == 0) budgets.max_latency_ms = latencies[latencies.size() / 2];

    StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, budgets);

    const std::set<std::vector<double>> expected = BruteForceFront(problem, budgets);
    if (expected.empty()) {
      EXPECT_FALSE(front.ok()) << "seed " << seed;
      continue;
    }
    ++constrained;
    ASSERT_TRUE(front.ok()) << front.status().ToString();
    EXPECT_EQ(AsSet(*front), expected) << "seed " << seed;
    for (const PredictedConfig& c : *front) {
      EXPECT_LE(c.flash_bytes, *budgets.max_flash_bytes);
      if (budgets.max_latency_ms) {
        EXPECT_LE(c.latency_ms, *budgets.max_latency_ms);
      }
    }
  }
  EXPECT_GT(constrained, 20);
}

TEST(SolveParetoFront, ABudgetBelowTheSmallestModelNamesWhatIsReachable) {
  SearchProblem problem = RandomProblem(4, 7);
  std::vector<int> all_two(4, 2);
  StatusOr<PredictedConfig> smallest = Predict(problem, all_two);
  ASSERT_TRUE(smallest.ok());
  Budgets budgets;
  budgets.max_flash_bytes = smallest->flash_bytes - 1;

  StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, budgets);

  ASSERT_FALSE(front.ok());
  EXPECT_EQ(front.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(front.status().message().find("the smallest reachable flash is " + std::to_string(smallest->flash_bytes) +
                                          " bytes, RAM 4096 bytes"),
            std::string::npos)
      << front.status().message();

  budgets.max_flash_bytes = smallest->flash_bytes;
  StatusOr<std::vector<PredictedConfig>> just = SolveParetoFront(problem, budgets);
  ASSERT_TRUE(just.ok()) << just.status().ToString();
  ASSERT_EQ(just->size(), 1u);
  EXPECT_EQ(just->front().bits, all_two);
}

TEST(SolveParetoFront, ALatencyBudgetNeedsTheClock) {
  SearchProblem problem = RandomProblem(2, 3);
  problem.clock_hz = 0;
  Budgets budgets;
  budgets.max_latency_ms = 1;
  StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, budgets);
  ASSERT_FALSE(front.ok());
  EXPECT_EQ(front.status().code(), StatusCode::kInvalidArgument);
}

TEST(Predict, AddsTheChosenOptionsToTheBase) {
  SearchProblem problem = RandomProblem(3, 11);
  StatusOr<PredictedConfig> config = Predict(problem, {8, 4, 2});
  ASSERT_TRUE(config.ok());
  const auto& l = problem.layers;
  EXPECT_EQ(config->flash_bytes, problem.base_flash_bytes + l[1][1].flash_bytes + l[2][2].flash_bytes);
  EXPECT_DOUBLE_EQ(config->cycles, problem.base_cycles + l[0][0].cycles + l[1][1].cycles + l[2][2].cycles);
  EXPECT_DOUBLE_EQ(config->accuracy, 90 - l[1][1].accuracy_drop - l[2][2].accuracy_drop);
  EXPECT_DOUBLE_EQ(config->latency_ms, config->cycles / 25e6 * 1e3);
  EXPECT_FALSE(Predict(problem, {8, 3, 2}).ok());
  EXPECT_FALSE(Predict(problem, {8, 4}).ok());
}

TEST(SelectCandidates, TakesTheMostAccurateAndSpreadsTheRestDistinctMixedAndDeterministic) {
  SearchProblem problem = RandomProblem(6, 5);
  StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, {});
  ASSERT_TRUE(front.ok());
  std::vector<PredictedConfig> mixed;
  for (const PredictedConfig& c : *front) {
    if (!IsUniform(c.bits)) mixed.push_back(c);
  }
  ASSERT_GT(mixed.size(), 8u);

  std::vector<PredictedConfig> chosen = SelectCandidates(*front, 8);

  ASSERT_EQ(chosen.size(), 8u);
  double best_drop = mixed.front().accuracy_drop;
  for (const PredictedConfig& c : mixed) best_drop = std::min(best_drop, c.accuracy_drop);
  EXPECT_EQ(chosen.front().accuracy_drop, best_drop);
  std::set<std::vector<int>> distinct;
  for (const PredictedConfig& c : chosen) {
    EXPECT_FALSE(IsUniform(c.bits)) << BitsText(c.bits);
    distinct.insert(c.bits);
  }
  EXPECT_EQ(distinct.size(), 8u);
  // The cheapest mixed point of the front (by latency) is among them.
  EXPECT_TRUE(distinct.count(mixed.front().bits));
  std::vector<PredictedConfig> again = SelectCandidates(*front, 8);
  for (size_t i = 0; i < chosen.size(); ++i) EXPECT_EQ(again[i].bits, chosen[i].bits);

  EXPECT_EQ(SelectCandidates(*front, static_cast<int>(front->size()) + 5).size(), mixed.size());
  EXPECT_TRUE(SelectCandidates(*front, 0).empty());
}

TEST(SelectCandidates, TakesForEachRivalTheMostAccurateConfigurationNoCostlierThanIt) {
  SearchProblem problem = RandomProblem(6, 7);
  StatusOr<std::vector<PredictedConfig>> front = SolveParetoFront(problem, {});
  ASSERT_TRUE(front.ok());
  std::vector<PredictedConfig> rivals;
  for (int bits : {8, 4, 2}) rivals.push_back(*Predict(problem, std::vector<int>(6, bits)));

  // Only two slots beyond the most accurate: the rivals' challengers must win them over the spread.
  std::vector<PredictedConfig> chosen = SelectCandidates(*front, 3, rivals);

  std::set<std::vector<int>> distinct;
  for (const PredictedConfig& c : chosen) distinct.insert(c.bits);
  int challengers = 0;
  for (const PredictedConfig& rival : rivals) {
    // The expected challenger, found by brute force over the front.
    const PredictedConfig* best = nullptr;
    for (const PredictedConfig& c : *front) {
      if (IsUniform(c.bits) || c.flash_bytes > rival.flash_bytes || c.cycles > rival.cycles) continue;
      if (best == nullptr || c.accuracy_drop < best->accuracy_drop) best = &c;
    }
    if (best == nullptr) continue;
    ++challengers;
    if (challengers <= 2) {
      EXPECT_TRUE(distinct.count(best->bits)) << "rival " << BitsText(rival.bits);
    }
  }
  EXPECT_GT(challengers, 0) << "the random problem should give some rival a challenger";
  ASSERT_EQ(chosen.size(), 3u);
}

}  // namespace
}  // namespace qatlab::search
