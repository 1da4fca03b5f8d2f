// The thread pool of mindcv's CPU kernels (the csrc/*.cc operators): one worker per extra core, sleeping when idle.
#ifndef MINDCV_THREAD_POOL_H_
#define MINDCV_THREAD_POOL_H_

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mindcv {

// Runs body(begin, end) over [0, n) split into one part per core. Idle workers sleep on a condition
// variable instead of spinning as OpenMP's do: spinning threads took the cores from the MindSpore
// operators that run right after these kernels (measured: BatchNorm 3.5x slower around OpenMP regions).
// A call made while another is running (operators executed concurrently) runs on the caller alone.
class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    const int64_t parts = std::min<int64_t>(n, static_cast<int64_t>(workers_.size()) + 1);
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts <= 1 || !busy.owns_lock()) {
      body(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      total_ = n;
      parts_ = parts;
      next_part_ = 1;
      pending_ = parts - 1;
    }
    wake_.notify_all();
    body(0, n / parts);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  ThreadPool() {
    cpu_set_t cpus;
    const int cores = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    for (int i = 1; i < cores; ++i) workers_.emplace_back([this] { work(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || next_part_ < parts_; });
      if (stopping_) return;
      const int64_t part = next_part_++;
      const auto* body = body_;
      const int64_t begin = total_ * part / parts_, end = total_ * (part + 1) / parts_;
      lock.unlock();
      (*body)(begin, end);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex busy_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t total_ = 0, parts_ = 0, next_part_ = 0, pending_ = 0;
  bool stopping_ = false;
};

template <class F>
void parallel_for(int64_t n, F&& body) {
  ThreadPool::instance().run(n, std::function<void(int64_t, int64_t)>(std::forward<F>(body)));
}

}  // namespace mindcv

#endif  // MINDCV_THREAD_POOL_H_
