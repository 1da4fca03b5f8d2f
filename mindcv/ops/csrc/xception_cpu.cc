// CPU kernels for the two operators that dominate Xception on MindSpore's CPU backend, loaded as
// MindSpore AOT custom operators (mindcv/ops/cpu_kernels.py):
//   - 3x3 depthwise convolution, stride 1, padding 1 (forward, input gradient, filter gradient);
//     MindSpore 2.7's oneDNN path runs it as one small GEMM per channel on plain NCHW tensors.
//   - 3x3 stride-2 max-pool with TensorFlow-'same' or symmetric padding, returning the argmax so the
//     backward pass is a scatter instead of MindSpore's CPU MaxPoolGrad, which re-runs the pooling.
// All tensors are contiguous float32 NCHW; every (n, c) plane is independent, so planes are split
// across the threads of a small pool (ThreadPool below). Signature: MindSpore's AOT convention (inputs,
// then outputs, in params).
#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace {

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

// out = correlate(in, k) over one H x W plane with zero padding 1; k is 3x3, row-major.
void depthwise_plane(const float* in, const float* k, float* out, int64_t h, int64_t w) {
  std::memset(out, 0, sizeof(float) * h * w);
  for (int64_t i = 0; i < h; ++i) {
    float* o = out + i * w;
    for (int64_t kr = 0; kr < 3; ++kr) {
      const int64_t r = i + kr - 1;
      if (r < 0 || r >= h) continue;
      const float* x = in + r * w;
      const float k0 = k[kr * 3], k1 = k[kr * 3 + 1], k2 = k[kr * 3 + 2];
      if (w == 1) {
        o[0] += k1 * x[0];
        continue;
      }
      o[0] += k1 * x[0] + k2 * x[1];
#pragma omp simd
      for (int64_t j = 1; j < w - 1; ++j) o[j] += k0 * x[j - 1] + k1 * x[j] + k2 * x[j + 1];
      o[w - 1] += k0 * x[w - 2] + k1 * x[w - 1];
    }
  }
}

void depthwise(const float* in, const float* weight, float* out, const int64_t* shape, bool flip) {
  const int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3];
  parallel_for(n * c, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* k = weight + (p % c) * 9;
      float flipped[9];
      if (flip) {
        for (int t = 0; t < 9; ++t) flipped[t] = k[8 - t];
        k = flipped;
      }
      depthwise_plane(in + p * h * w, k, out + p * h * w, h, w);
    }
  });
}

int64_t pool_pad_before(int64_t in, int64_t out, bool same) {
  if (!same) return 1;
  const int64_t total = (out - 1) * 2 + 3 - in;
  return total > 0 ? total / 2 : 0;
}

// One output row of the pool over window rows r0..r0+2 (clipped to the plane): first the column-wise
// maximum of those rows (contiguous, vectorised), then the maximum of each 3-column window of it.
// ``colmax``/``colarg`` are scratch rows of width w. Ties keep the first maximum in row-major window
// order (the smallest flat index), as MindSpore's own MaxPool gradient does.
void max_pool_row(const float* x, int64_t h, int64_t w, int64_t r0, int64_t left, int64_t ow, float* y,
                  int32_t* a, float* colmax, int32_t* colarg) {
  const int64_t r_lo = r0 < 0 ? 0 : r0, r_hi = r0 + 3 > h ? h : r0 + 3;
  const float* first = x + r_lo * w;
#pragma omp simd
  for (int64_t c = 0; c < w; ++c) {
    colmax[c] = first[c];
    colarg[c] = static_cast<int32_t>(r_lo * w + c);
  }
  for (int64_t r = r_lo + 1; r < r_hi; ++r) {
    const float* row = x + r * w;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) {
      const bool better = row[c] > colmax[c];
      colmax[c] = better ? row[c] : colmax[c];
      colarg[c] = better ? static_cast<int32_t>(r * w + c) : colarg[c];
    }
  }
  for (int64_t j = 0; j < ow; ++j) {
    const int64_t c0 = j * 2 - left;
    int64_t best = c0 < 0 ? 0 : c0;
    const int64_t c_hi = c0 + 3 > w ? w : c0 + 3;
    for (int64_t c = best + 1; c < c_hi; ++c) {
      const bool better = colmax[c] > colmax[best] || (colmax[c] == colmax[best] && colarg[c] < colarg[best]);
      best = better ? c : best;
    }
    y[j] = colmax[best];
    a[j] = colarg[best];
  }
}

void max_pool(const float* in, float* out, int32_t* argmax, const int64_t* in_shape, const int64_t* out_shape,
              bool same) {
  const int64_t planes = in_shape[0] * in_shape[1], h = in_shape[2], w = in_shape[3];
  const int64_t oh = out_shape[2], ow = out_shape[3];
  const int64_t top = pool_pad_before(h, oh, same), left = pool_pad_before(w, ow, same);
  parallel_for(planes, [=](int64_t begin, int64_t end) {
    std::vector<float> colmax(w);
    std::vector<int32_t> colarg(w);
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t i = 0; i < oh; ++i) {
        max_pool_row(in + p * h * w, h, w, i * 2 - top, left, ow, out + p * oh * ow + i * ow,
                     argmax + p * oh * ow + i * ow, colmax.data(), colarg.data());
      }
    }
  });
}

}  // namespace

extern "C" {

// inputs: x (N, C, H, W), weight (C, 1, 3, 3); output: y (N, C, H, W)
int DepthwiseConv3x3(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  depthwise(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<float*>(params[2]),
            shapes[0], false);
  return 0;
}

// inputs: dy (N, C, H, W), weight (C, 1, 3, 3); output: dx (N, C, H, W)
int DepthwiseConv3x3GradInput(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  depthwise(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<float*>(params[2]),
            shapes[0], true);
  return 0;
}

// inputs: x (N, C, H, W), dy (N, C, H, W); output: dweight (C, 1, 3, 3)
int DepthwiseConv3x3GradFilter(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const float* x = static_cast<float*>(params[0]);
  const float* dy = static_cast<float*>(params[1]);
  float* dw = static_cast<float*>(params[2]);
  const int64_t n = shapes[0][0], c = shapes[0][1], h = shapes[0][2], w = shapes[0][3];
  parallel_for(c, [=](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double acc[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t b = 0; b < n; ++b) {
        const float* xp = x + (b * c + ch) * h * w;
        const float* gp = dy + (b * c + ch) * h * w;
        for (int64_t i = 0; i < h; ++i) {
          const float* g = gp + i * w;
          for (int64_t kr = 0; kr < 3; ++kr) {
            const int64_t r = i + kr - 1;
            if (r < 0 || r >= h) continue;
            const float* xr = xp + r * w;
            for (int64_t kc = 0; kc < 3; ++kc) {
              const int64_t lo = kc == 0 ? 1 : 0, hi = kc == 2 ? w - 1 : w;
              float s = 0.0f;
#pragma omp simd reduction(+ : s)
              for (int64_t j = lo; j < hi; ++j) s += g[j] * xr[j + kc - 1];
              acc[kr * 3 + kc] += s;
            }
          }
        }
      }
      for (int t = 0; t < 9; ++t) dw[ch * 9 + t] = static_cast<float>(acc[t]);
    }
  });
  return 0;
}

// inputs: x (N, C, H, W); outputs: y (N, C, OH, OW), argmax (N, C, OH, OW) int32 index in the plane
int MaxPool3x3S2Same(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  max_pool(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<int32_t*>(params[2]),
           shapes[0], shapes[1], true);
  return 0;
}

int MaxPool3x3S2Symmetric(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  max_pool(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<int32_t*>(params[2]),
           shapes[0], shapes[1], false);
  return 0;
}

// inputs: x (N, C, H, W) for its shape, argmax (N, C, OH, OW), dy (N, C, OH, OW); output: dx (N, C, H, W)
int MaxPool3x3S2Grad(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int32_t* argmax = static_cast<int32_t*>(params[1]);
  const float* dy = static_cast<float*>(params[2]);
  float* dx = static_cast<float*>(params[3]);
  const int64_t planes = shapes[0][0] * shapes[0][1], hw = shapes[0][2] * shapes[0][3];
  const int64_t ohw = shapes[2][2] * shapes[2][3];
  parallel_for(planes, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* d = dx + p * hw;
      std::memset(d, 0, sizeof(float) * hw);
      const int32_t* a = argmax + p * ohw;
      const float* g = dy + p * ohw;
      for (int64_t o = 0; o < ohw; ++o) d[a[o]] += g[o];
    }
  });
  return 0;
}

}  // extern "C"
