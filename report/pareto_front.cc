#include "report/pareto_front.h"

#include <algorithm>
#include <numeric>

namespace qatlab {

std::vector<size_t> ParetoFront(const std::vector<TradeoffPoint>& points) {
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  // Cheapest first; among equal costs the most accurate first, so a sweep
  // keeps a point only when it beats every cheaper (or equally cheap) one.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (points[a].cost != points[b].cost) return points[a].cost < points[b].cost;
    return points[a].accuracy > points[b].accuracy;
  });
  std::vector<size_t> front;
  for (size_t index : order) {
    const TradeoffPoint& point = points[index];
    if (front.empty() || point.accuracy > points[front.back()].accuracy) {
      front.push_back(index);
    } else if (point.accuracy == points[front.back()].accuracy && point.cost == points[front.back()].cost) {
      front.push_back(index);  // a duplicate of a front point: neither dominates the other
    }
  }
  return front;
}

}  // namespace qatlab
