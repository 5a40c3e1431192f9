// Data parallelism with a fixed split. Every batch is cut into the same two
// parts whatever the number of threads, and every reduction across parts adds
// part 0 then part 1, so results are bit-identical with one or two threads.
#pragma once

#include <functional>

namespace qatlab {

// Threads used by RunInTwoParts: 1 or 2 (default 2).
void SetTrainingThreads(int threads);
int TrainingThreads();

// Calls fn(0) and fn(1), concurrently when two threads are allowed.
// fn must only write memory owned by its part.
void RunInTwoParts(const std::function<void(int part)>& fn);

// The half-open range of [0, count) that belongs to `part` (0 or 1).
inline void PartRange(int count, int part, int* begin, int* end) {
  const int middle = (count + 1) / 2;
  *begin = part == 0 ? 0 : middle;
  *end = part == 0 ? middle : count;
}

}  // namespace qatlab
