// BatchNorm on CPU: training mode (batch statistics, normalisation, gradients; one channel per task) and
// evaluation mode with the moving statistics (one x * scale + shift pass), over the threads of the pool
// (thread_pool.h). MindSpore's CPU operator spends ~1 ms per call even on 5x5 maps.
// Compiled with the other csrc/*.cc files into one library, loaded as MindSpore AOT custom operators
// (mindcv/ops/cpu_kernels.py). All tensors are contiguous float32 NCHW. Signature of every exported function:
// MindSpore's AOT convention (inputs, then outputs, in params).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "thread_pool.h"

namespace {

using mindcv::parallel_for;

// Training-mode batch normalisation over (N, C, H, W), one channel per task: the statistics in double in
// one pass over the planes, then y = x * scale + shift. ``var`` is the unbiased variance (for the moving
// average, as MindSpore's BatchNorm keeps it); ``invstd`` = 1 / sqrt(biased variance + eps).
void batch_norm_train(const float* x, const float* gamma, const float* beta, float eps, float* y, float* mean,
                      float* var, float* invstd, int64_t n, int64_t c, int64_t hw) {
  parallel_for(c, [=](int64_t begin, int64_t end) {
    const double count = static_cast<double>(n * hw);
    for (int64_t ch = begin; ch < end; ++ch) {
      double sum = 0.0, squares = 0.0;
      for (int64_t b = 0; b < n; ++b) {
        const float* plane = x + (b * c + ch) * hw;
#pragma omp simd reduction(+ : sum, squares)
        for (int64_t p = 0; p < hw; ++p) {
          sum += plane[p];
          squares += static_cast<double>(plane[p]) * plane[p];
        }
      }
      const double mu = sum / count, biased = std::max(squares / count - mu * mu, 0.0);
      const double inv = 1.0 / std::sqrt(biased + eps);
      mean[ch] = static_cast<float>(mu);
      var[ch] = static_cast<float>(count > 1 ? biased * count / (count - 1) : biased);
      invstd[ch] = static_cast<float>(inv);
      const float scale = static_cast<float>(gamma[ch] * inv), shift = static_cast<float>(beta[ch] - mu * gamma[ch] * inv);
      for (int64_t b = 0; b < n; ++b) {
        const float* plane = x + (b * c + ch) * hw;
        float* out = y + (b * c + ch) * hw;
#pragma omp simd
        for (int64_t p = 0; p < hw; ++p) out[p] = plane[p] * scale + shift;
      }
    }
  });
}

// Its gradients: dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M)
// with xhat = (x - mean) * invstd and M = N * H * W.
void batch_norm_train_grad(const float* dy, const float* x, const float* gamma, const float* mean,
                           const float* invstd, float* dx, float* dgamma, float* dbeta, int64_t n, int64_t c,
                           int64_t hw) {
  parallel_for(c, [=](int64_t begin, int64_t end) {
    const double count = static_cast<double>(n * hw);
    for (int64_t ch = begin; ch < end; ++ch) {
      const float mu = mean[ch], inv = invstd[ch];
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      for (int64_t b = 0; b < n; ++b) {
        const float* g = dy + (b * c + ch) * hw;
        const float* plane = x + (b * c + ch) * hw;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
        for (int64_t p = 0; p < hw; ++p) {
          sum_dy += g[p];
          sum_dy_xhat += static_cast<double>(g[p]) * ((plane[p] - mu) * inv);
        }
      }
      dbeta[ch] = static_cast<float>(sum_dy);
      dgamma[ch] = static_cast<float>(sum_dy_xhat);
      const float scale = gamma[ch] * inv, mean_dy = static_cast<float>(sum_dy / count);
      const float mean_dy_xhat = static_cast<float>(sum_dy_xhat / count);
      for (int64_t b = 0; b < n; ++b) {
        const float* g = dy + (b * c + ch) * hw;
        const float* plane = x + (b * c + ch) * hw;
        float* out = dx + (b * c + ch) * hw;
#pragma omp simd
        for (int64_t p = 0; p < hw; ++p) out[p] = scale * (g[p] - mean_dy - (plane[p] - mu) * inv * mean_dy_xhat);
      }
    }
  });
}

// Evaluation-mode batch normalisation with the moving statistics: y = x * scale + shift per channel, with
// scale = gamma / sqrt(var + eps) and shift = beta - mean * scale (in double, rounded once), over the planes.
void batch_norm_eval(const float* x, const float* gamma, const float* beta, const float* mean, const float* var,
                     float eps, float* y, int64_t n, int64_t c, int64_t hw) {
  std::vector<float> scale(c), shift(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double s = gamma[ch] / std::sqrt(static_cast<double>(var[ch]) + eps);
    scale[ch] = static_cast<float>(s);
    shift[ch] = static_cast<float>(beta[ch] - mean[ch] * s);
  }
  const float *sc = scale.data(), *sh = shift.data();
  parallel_for(n * c, [=](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const float a = sc[plane % c], b = sh[plane % c];
      const float* in = x + plane * hw;
      float* out = y + plane * hw;
#pragma omp simd
      for (int64_t p = 0; p < hw; ++p) out[p] = in[p] * a + b;
    }
  });
}

}  // namespace

extern "C" {

// inputs: x (N, C, H, W), gamma (C), beta (C), eps (1); outputs: y (N, C, H, W), mean (C), unbiased var (C),
// invstd (C)
int BatchNormTrain(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  batch_norm_train(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<float*>(params[2]),
                   *static_cast<float*>(params[3]), static_cast<float*>(params[4]), static_cast<float*>(params[5]),
                   static_cast<float*>(params[6]), static_cast<float*>(params[7]), s[0], s[1], s[2] * s[3]);
  return 0;
}

// inputs: dy (N, C, H, W), x (N, C, H, W), gamma (C), mean (C), invstd (C); outputs: dx, dgamma (C), dbeta (C)
int BatchNormTrainGrad(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  batch_norm_train_grad(static_cast<float*>(params[0]), static_cast<float*>(params[1]),
                        static_cast<float*>(params[2]), static_cast<float*>(params[3]),
                        static_cast<float*>(params[4]), static_cast<float*>(params[5]),
                        static_cast<float*>(params[6]), static_cast<float*>(params[7]), s[0], s[1], s[2] * s[3]);
  return 0;
}

// inputs: x (N, C, H, W), gamma, beta, moving mean, moving variance (C), eps (1); output: y (N, C, H, W)
int BatchNormEval(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  batch_norm_eval(static_cast<float*>(params[0]), static_cast<float*>(params[1]), static_cast<float*>(params[2]),
                  static_cast<float*>(params[3]), static_cast<float*>(params[4]), *static_cast<float*>(params[5]),
                  static_cast<float*>(params[6]), s[0], s[1], s[2] * s[3]);
  return 0;
}

}  // extern "C"
