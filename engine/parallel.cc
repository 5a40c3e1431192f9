#include "engine/parallel.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QATLAB_CPU_RELAX() _mm_pause()
#else
#define QATLAB_CPU_RELAX() ((void)0)
#endif

namespace qatlab {
namespace {

std::atomic<int> g_threads{2};

// One helper thread that runs part 1 while the caller runs part 0. Both
// sides spin briefly (a batch's layers hand work over every few hundred
// microseconds) and then sleep, so an oversubscribed machine is not burnt
// by spinning. Part 1 goes to whichever side claims it first: when the
// helper has not been scheduled by the time part 0 is done (a busy
// machine), the caller runs part 1 itself instead of waiting. Which thread
// runs a part does not change its result (one thread runs both anyway).
class PartTwoWorker {
 public:
  PartTwoWorker() : thread_([this] { Loop(); }) {}
  ~PartTwoWorker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++posted_;
    }
    wake_worker_.notify_one();
    thread_.join();
  }

  // REQUIRES: one caller at a time (the training thread).
  void Run(const std::function<void(int)>& fn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      claimed_ = false;
      done_.store(false, std::memory_order_relaxed);
      ++posted_;
      posted_atomic_.store(posted_, std::memory_order_release);
    }
    wake_worker_.notify_one();
    fn(0);
    bool mine = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      mine = !claimed_;
      claimed_ = true;
    }
    if (mine) {
      fn(1);
      return;
    }
    for (int spin = 0; spin < kSpins; ++spin) {
      if (done_.load(std::memory_order_acquire)) return;
      QATLAB_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_caller_.wait(lock, [this] { return done_.load(std::memory_order_acquire); });
  }

 private:
  static constexpr int kSpins = 2000;  // tens of microseconds

  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      bool ready = false;
      for (int spin = 0; spin < kSpins && !ready; ++spin) {
        ready = posted_atomic_.load(std::memory_order_acquire) != seen;
        if (!ready) QATLAB_CPU_RELAX();
      }
      const std::function<void(int)>* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_worker_.wait(lock, [&] { return posted_ != seen; });
        seen = posted_;
        if (stop_) return;
        // The caller claimed part 1 itself; the job may already be gone.
        if (claimed_) continue;
        claimed_ = true;
        job = job_;
      }
      (*job)(1);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.store(true, std::memory_order_release);
      }
      wake_caller_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_worker_, wake_caller_;
  const std::function<void(int)>* job_ = nullptr;  // guarded by mutex_
  bool claimed_ = false;                           // part 1 of job_ taken; guarded by mutex_
  uint64_t posted_ = 0;                            // guarded by mutex_
  std::atomic<uint64_t> posted_atomic_{0};
  std::atomic<bool> done_{false};
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace

void SetTrainingThreads(int threads) { g_threads = threads >= 2 ? 2 : 1; }
int TrainingThreads() { return g_threads; }

void RunInTwoParts(const std::function<void(int part)>& fn) {
  if (g_threads >= 2) {
    // One worker per calling thread: concurrent jobs in one process (tests)
    // each get their own.
    thread_local PartTwoWorker worker;
    worker.Run(fn);
    return;
  }
  fn(0);
  fn(1);
}

}  // namespace qatlab
