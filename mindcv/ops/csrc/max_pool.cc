// 3x3 stride-2 max-pool with TensorFlow-'same' or symmetric padding on CPU, returning the argmax so that the
// backward pass is a scatter instead of MindSpore's CPU MaxPoolGrad, which re-runs the pooling. Planes are split
// across the threads of the pool (thread_pool.h); small maps take a path of their own.
// Compiled with the other csrc/*.cc files into one library, loaded as MindSpore AOT custom operators
// (mindcv/ops/cpu_kernels.py). All tensors are contiguous float32 NCHW. Signature of every exported function:
// MindSpore's AOT convention (inputs, then outputs, in params).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "thread_pool.h"

namespace {

using mindcv::parallel_for;

int64_t pool_pad_before(int64_t in, int64_t out, bool same) {
  if (!same) return 1;
  const int64_t total = (out - 1) * 2 + 3 - in;
  return total > 0 ? total / 2 : 0;
}

// Scratch of one thread of the pool: the column-wise maxima of a window's rows (value and flat index in the
// plane), split into even and odd columns of the padded row so that every output's three columns are contiguous
// streams (a padding column holds -inf with the largest index, so it never wins).
struct PoolScratch {
  std::vector<float> value, even, odd;
  std::vector<int32_t> index, even_index, odd_index;

  explicit PoolScratch(int64_t w)
      : value(w + 2), even(w / 2 + 2), odd(w / 2 + 2), index(w + 2), even_index(w / 2 + 2), odd_index(w / 2 + 2) {
    value[0] = value[w + 1] = -INFINITY;
    index[0] = index[w + 1] = INT32_MAX;
  }
};

// Candidate (v, i) replaces (best, at) when larger, or equal with a smaller flat index: the first maximum in
// row-major window order, as MindSpore's own MaxPool gradient picks it.
inline void take_max(float v, int32_t i, float* best, int32_t* at) {
  const bool better = v > *best || (v == *best && i < *at);
  *best = better ? v : *best;
  *at = better ? i : *at;
}

// One output row of the pool over window rows r0..r0+2 (clipped to the plane): first the column-wise maximum of
// those rows (contiguous, vectorised), then the maximum of each 3-column window of it, vectorised over the
// outputs through the even/odd split. Output j reads padded columns 2j - left + 1 .. 2j - left + 3.
void max_pool_row(const float* x, int64_t h, int64_t w, int64_t r0, int64_t left, int64_t ow, float* y,
                  int32_t* a, PoolScratch* s) {
  const int64_t r_lo = r0 < 0 ? 0 : r0, r_hi = r0 + 3 > h ? h : r0 + 3;
  float* cm = s->value.data() + 1;
  int32_t* ci = s->index.data() + 1;
  const float* first = x + r_lo * w;
#pragma omp simd
  for (int64_t c = 0; c < w; ++c) {
    cm[c] = first[c];
    ci[c] = static_cast<int32_t>(r_lo * w + c);
  }
  for (int64_t r = r_lo + 1; r < r_hi; ++r) {
    const float* row = x + r * w;
#pragma omp simd
    for (int64_t c = 0; c < w; ++c) {
      const bool better = row[c] > cm[c];
      cm[c] = better ? row[c] : cm[c];
      ci[c] = better ? static_cast<int32_t>(r * w + c) : ci[c];
    }
  }
  const int64_t pairs = (w + 2) / 2;
  const float* padded = s->value.data();
  const int32_t* padded_index = s->index.data();
  float *even = s->even.data(), *odd = s->odd.data();
  int32_t *even_index = s->even_index.data(), *odd_index = s->odd_index.data();
  for (int64_t k = 0; k < pairs; ++k) {
    even[k] = padded[2 * k];
    even_index[k] = padded_index[2 * k];
    odd[k] = padded[2 * k + 1];
    odd_index[k] = padded_index[2 * k + 1];
  }
  if ((w + 2) % 2) {  // the last padding column, at an even position
    even[pairs] = padded[w + 1];
    even_index[pairs] = padded_index[w + 1];
  }
  // left 1: columns (even j, odd j, even j+1); left 0: (odd j, even j+1, odd j+1). The middle one is always
  // inside the plane, so it starts the comparison.
  const float *va = left ? even : odd, *vb = left ? odd : even + 1, *vc = left ? even + 1 : odd + 1;
  const int32_t *ia = left ? even_index : odd_index, *ib = left ? odd_index : even_index + 1;
  const int32_t* ic = left ? even_index + 1 : odd_index + 1;
#pragma omp simd
  for (int64_t j = 0; j < ow; ++j) {
    float best = vb[j];
    int32_t at = ib[j];
    take_max(va[j], ia[j], &best, &at);
    take_max(vc[j], ic[j], &best, &at);
    y[j] = best;
    a[j] = at;
  }
}

// Maps of at most kSmallPoolMap pixels make the row loops above short, so there each output pixel is computed
// for many planes at once: its in-plane taps are listed once, in row-major order (a tie keeps the
// earlier tap), and the loop over planes is the vectorised one.
// Against the row path, per Xception shape: 3x faster at 10x10 and less, as fast at 17x17, 1.3x faster at 19x19,
// 2x slower at 33x33.
constexpr int64_t kSmallPoolMap = 400;

void max_pool_small(const float* in, float* out, int32_t* argmax, int64_t planes, int64_t h, int64_t w, int64_t oh,
                    int64_t ow, int64_t top, int64_t left) {
  const int64_t hw = h * w, ohw = oh * ow;
  std::vector<int32_t> taps(ohw * 9), counts(ohw);
  for (int64_t i = 0; i < oh; ++i) {
    for (int64_t j = 0; j < ow; ++j) {
      int32_t count = 0;
      for (int64_t r = i * 2 - top; r < i * 2 - top + 3; ++r)
        for (int64_t col = j * 2 - left; col < j * 2 - left + 3; ++col)
          if (r >= 0 && r < h && col >= 0 && col < w)
            taps[(i * ow + j) * 9 + count++] = static_cast<int32_t>(r * w + col);
      counts[i * ow + j] = count;
    }
  }
  const int32_t *tap_list = taps.data(), *tap_count = counts.data();
  parallel_for(planes, [=](int64_t begin, int64_t end) {
    for (int64_t o = 0; o < ohw; ++o) {
      const int32_t* t = tap_list + o * 9;
      const int32_t count = tap_count[o];
#pragma omp simd
      for (int64_t p = begin; p < end; ++p) {
        const float* plane = in + p * hw;
        float best = plane[t[0]];
        int32_t at = t[0];
        for (int32_t k = 1; k < count; ++k) {
          const float v = plane[t[k]];
          const bool better = v > best;
          best = better ? v : best;
          at = better ? t[k] : at;
        }
        out[p * ohw + o] = best;
        argmax[p * ohw + o] = at;
      }
    }
  });
}

void max_pool(const float* in, float* out, int32_t* argmax, const int64_t* in_shape, const int64_t* out_shape,
              bool same) {
  const int64_t planes = in_shape[0] * in_shape[1], h = in_shape[2], w = in_shape[3];
  const int64_t oh = out_shape[2], ow = out_shape[3];
  const int64_t top = pool_pad_before(h, oh, same), left = pool_pad_before(w, ow, same);
  if (h * w <= kSmallPoolMap) {
    max_pool_small(in, out, argmax, planes, h, w, oh, ow, top, left);
    return;
  }
  parallel_for(planes, [=](int64_t begin, int64_t end) {
    PoolScratch scratch(w);
    for (int64_t p = begin; p < end; ++p) {
      for (int64_t i = 0; i < oh; ++i) {
        max_pool_row(in + p * h * w, h, w, i * 2 - top, left, ow, out + p * oh * ow + i * ow,
                     argmax + p * oh * ow + i * ow, &scratch);
      }
    }
  });
}

}  // namespace

extern "C" {

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
