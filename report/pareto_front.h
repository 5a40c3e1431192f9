// The Pareto front of a trade-off between a cost to minimise (flash bytes,
// latency) and an accuracy to maximise.
#pragma once

#include <cstddef>
#include <vector>

namespace qatlab {

struct TradeoffPoint {
  double cost = 0;
  double accuracy = 0;
};

// The indices of the non-dominated points, by increasing cost. A point is
// dominated when another costs no more and is no less accurate, and is
// strictly better in one of the two; equal points are both on the front.
std::vector<size_t> ParetoFront(const std::vector<TradeoffPoint>& points);

}  // namespace qatlab
