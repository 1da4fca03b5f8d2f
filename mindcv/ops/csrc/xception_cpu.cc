// CPU kernels for the operators that dominate Xception on MindSpore's CPU backend, loaded as MindSpore
// AOT custom operators (mindcv/ops/cpu_kernels.py):
//   - 3x3 depthwise convolution, stride 1, padding 1 (forward, input gradient, filter gradient);
//     MindSpore 2.7's oneDNN path runs it as one small GEMM per channel on plain NCHW tensors.
//   - 3x3 stride-2 max-pool with TensorFlow-'same' or symmetric padding, returning the argmax so the
//     backward pass is a scatter instead of MindSpore's CPU MaxPoolGrad, which re-runs the pooling.
//   - training-mode BatchNorm (batch statistics, normalisation, gradients), one channel per task.
// All tensors are contiguous float32 NCHW; every (n, c) plane is independent, so planes are split
// across the threads of a small pool (thread_pool.h); planes of 5x5 and less are worked on channels-last
// in blocks of channels instead. Signature: MindSpore's AOT convention (inputs, then outputs, in params).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "thread_pool.h"

namespace {

using mindcv::parallel_for;

// Planes of at most this many pixels take the channels-last path below (measured per Xception shape: it is
// 1.3-2.7x faster at 5x5 and 3x3, slower from 9x9 up).
constexpr int64_t kSmallMap = 25;

// A plane seen as one flat array of H*W values, and its column neighbours: left[p] = x[i][j-1] and
// right[p] = x[i][j+1] (zero past the edges). With them every 3x3 tap is a contiguous stream over the
// flat plane, offset by a whole row, so loops run over H*W values however narrow the plane (a 5x5 map
// would otherwise give inner loops of 3 to 5 values).
struct ShiftedPlane {
  std::vector<float> left, right;

  void fill(const float* x, int64_t h, int64_t w) {
    left.resize(h * w);
    right.resize(h * w);
    for (int64_t i = 0; i < h; ++i) {
      const float* row = x + i * w;
      float* l = left.data() + i * w;
      float* r = right.data() + i * w;
      l[0] = 0.0f;
      r[w - 1] = 0.0f;
#pragma omp simd
      for (int64_t j = 1; j < w; ++j) l[j] = row[j - 1];
#pragma omp simd
      for (int64_t j = 0; j < w - 1; ++j) r[j] = row[j + 1];
    }
  }
};

// The flat range of outputs p whose input row p + (kr - 1) * w exists, for kernel row kr.
inline void tap_range(int64_t kr, int64_t h, int64_t w, int64_t* begin, int64_t* end) {
  *begin = kr == 0 ? w : 0;
  *end = kr == 2 ? (h - 1) * w : h * w;
}

// out = correlate(in, k) over one H x W plane with zero padding 1; k is 3x3, row-major.
void depthwise_plane(const float* in, const float* k, float* out, int64_t h, int64_t w, ShiftedPlane* shifted) {
  shifted->fill(in, h, w);
  const float* columns[3] = {shifted->left.data(), in, shifted->right.data()};
  std::memset(out, 0, sizeof(float) * h * w);
  for (int64_t kr = 0; kr < 3; ++kr) {
    int64_t begin, end;
    tap_range(kr, h, w, &begin, &end);
    const int64_t offset = (kr - 1) * w;
    const float *a = columns[0] + offset, *b = columns[1] + offset, *c = columns[2] + offset;
    const float k0 = k[kr * 3], k1 = k[kr * 3 + 1], k2 = k[kr * 3 + 2];
#pragma omp simd
    for (int64_t p = begin; p < end; ++p) out[p] += k0 * a[p] + k1 * b[p] + k2 * c[p];
  }
}

// Small maps (5x5 in the middle flow at 71 px) make the per-plane loops above short, so there the work
// goes channel-fastest instead: a block of channels of one image is copied into a zero-bordered
// (h + 2) x (w + 2) x block buffer and every output pixel is nine multiply-adds over contiguous channel
// vectors. kChannelBlock channels per block (fewer for narrow layers, so both threads get blocks).
constexpr int64_t kChannelBlock = 64;

int64_t channel_block(int64_t c) { return c >= 4 * kChannelBlock ? kChannelBlock : 16; }

// dst[j * ld + i] = src[i * ls + j] for i < rows, j < cols: between NCHW planes and channels-last pixels.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t ls, float* dst, int64_t ld) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ld + i] = src[i * ls + j];
}

// Planes [0, cb) of x (each h x w) into the interior of buf, (h + 2) x (w + 2) x cb, channel fastest; the
// border of buf is left as it is (zero). ``pixels`` is h * w * cb scratch.
void to_padded_channels_last(const float* x, int64_t cb, int64_t h, int64_t w, float* pixels, float* buf) {
  transpose(x, cb, h * w, h * w, pixels, cb);
  for (int64_t i = 0; i < h; ++i)
    std::memcpy(buf + ((i + 1) * (w + 2) + 1) * cb, pixels + i * w * cb, sizeof(float) * w * cb);
}

// The nine taps of channels [c0, c0 + cb) as k9[t * cb + c], flipped for the input gradient.
void taps_channels_last(const float* weight, int64_t c0, int64_t cb, bool flip, float* k9) {
  for (int64_t c = 0; c < cb; ++c)
    for (int t = 0; t < 9; ++t) k9[t * cb + c] = weight[(c0 + c) * 9 + (flip ? 8 - t : t)];
}

// y planes [0, cb) of one image = correlate(padded channels-last input, k9); ``pixels`` is h * w * cb scratch.
void depthwise_channels_last(const float* buf, const float* k9, int64_t cb, int64_t h, int64_t w, float* pixels,
                             float* y) {
  const int64_t pw = w + 2;
  for (int64_t i = 0; i < h; ++i) {
    for (int64_t j = 0; j < w; ++j) {
      const float* s = buf + (i * pw + j) * cb;
      const float *s0 = s, *s1 = s + cb, *s2 = s + 2 * cb;
      const float *s3 = s + pw * cb, *s4 = s3 + cb, *s5 = s3 + 2 * cb;
      const float *s6 = s + 2 * pw * cb, *s7 = s6 + cb, *s8 = s6 + 2 * cb;
      const float* k = k9;
      float* o = pixels + (i * w + j) * cb;
#pragma omp simd
      for (int64_t c = 0; c < cb; ++c) {
        o[c] = k[c] * s0[c] + k[cb + c] * s1[c] + k[2 * cb + c] * s2[c] + k[3 * cb + c] * s3[c] +
               k[4 * cb + c] * s4[c] + k[5 * cb + c] * s5[c] + k[6 * cb + c] * s6[c] + k[7 * cb + c] * s7[c] +
               k[8 * cb + c] * s8[c];
      }
    }
  }
  transpose(pixels, h * w, cb, cb, y, h * w);
}

bool small_map(int64_t h, int64_t w) { return h * w <= kSmallMap; }

void depthwise(const float* in, const float* weight, float* out, const int64_t* shape, bool flip) {
  const int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3];
  if (small_map(h, w)) {
    const int64_t cb = channel_block(c), blocks = (c + cb - 1) / cb;
    parallel_for(n * blocks, [=](int64_t begin, int64_t end) {
      std::vector<float> buf((h + 2) * (w + 2) * cb), pixels(h * w * cb), k9(9 * cb);
      int64_t layout = cb;  // the channel stride buf's zero border was laid out for
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / blocks, c0 = (task % blocks) * cb, width = std::min(cb, c - c0);
        const int64_t offset = (b * c + c0) * h * w;
        if (width != layout) {
          std::fill(buf.begin(), buf.end(), 0.0f);
          layout = width;
        }
        to_padded_channels_last(in + offset, width, h, w, pixels.data(), buf.data());
        taps_channels_last(weight, c0, width, flip, k9.data());
        depthwise_channels_last(buf.data(), k9.data(), width, h, w, pixels.data(), out + offset);
      }
    });
    return;
  }
  parallel_for(n * c, [=](int64_t begin, int64_t end) {
    ShiftedPlane shifted;
    for (int64_t p = begin; p < end; ++p) {
      const float* k = weight + (p % c) * 9;
      float flipped[9];
      if (flip) {
        for (int t = 0; t < 9; ++t) flipped[t] = k[8 - t];
        k = flipped;
      }
      depthwise_plane(in + p * h * w, k, out + p * h * w, h, w, &shifted);
    }
  });
}

// dweight[kr][kc] += sum over the plane of dy[p] * (the input tap (kr, kc) feeding output p).
void depthwise_filter_plane(const float* x, const float* dy, int64_t h, int64_t w, ShiftedPlane* shifted,
                            double* acc) {
  shifted->fill(x, h, w);
  const float* columns[3] = {shifted->left.data(), x, shifted->right.data()};
  for (int64_t kr = 0; kr < 3; ++kr) {
    int64_t begin, end;
    tap_range(kr, h, w, &begin, &end);
    const int64_t offset = (kr - 1) * w;
    for (int64_t kc = 0; kc < 3; ++kc) {
      const float* tap = columns[kc] + offset;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t p = begin; p < end; ++p) sum += dy[p] * tap[p];
      acc[kr * 3 + kc] += sum;
    }
  }
}

// The filter gradient over small maps, per block of channels (all images): both tensors channels-last, then
// nine multiply-adds over channel vectors per pixel, summed in float per image and in double over images.
void depthwise_filter_channels_last(const float* x, const float* dy, float* dw, int64_t n, int64_t c, int64_t h,
                                    int64_t w) {
  const int64_t cb = channel_block(c), blocks = (c + cb - 1) / cb, hw = h * w, pw = w + 2;
  parallel_for(blocks, [=](int64_t begin, int64_t end) {
    std::vector<float> buf((h + 2) * pw * cb), grad(hw * cb), sums(9 * cb);
    std::vector<double> acc(9 * cb);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t c0 = block * cb, width = std::min(cb, c - c0);
      if (width != cb) std::fill(buf.begin(), buf.end(), 0.0f);  // the last block only: new border layout
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t b = 0; b < n; ++b) {
        const int64_t offset = (b * c + c0) * hw;
        to_padded_channels_last(x + offset, width, h, w, grad.data(), buf.data());
        transpose(dy + offset, width, hw, hw, grad.data(), width);
        std::fill(sums.begin(), sums.end(), 0.0f);
        for (int64_t i = 0; i < h; ++i) {
          for (int64_t j = 0; j < w; ++j) {
            const float* d = grad.data() + (i * w + j) * width;
            for (int t = 0; t < 9; ++t) {
              const float* s = buf.data() + ((i + t / 3) * pw + j + t % 3) * width;
              float* sum = sums.data() + t * width;
#pragma omp simd
              for (int64_t ch = 0; ch < width; ++ch) sum[ch] += d[ch] * s[ch];
            }
          }
        }
        for (int64_t t = 0; t < 9 * width; ++t) acc[t] += sums[t];
      }
      for (int64_t ch = 0; ch < width; ++ch)
        for (int t = 0; t < 9; ++t) dw[(c0 + ch) * 9 + t] = static_cast<float>(acc[t * width + ch]);
    }
  });
}

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
  if (small_map(h, w)) {
    depthwise_filter_channels_last(x, dy, dw, n, c, h, w);
    return 0;
  }
  parallel_for(c, [=](int64_t begin, int64_t end) {
    ShiftedPlane shifted;
    for (int64_t ch = begin; ch < end; ++ch) {
      double acc[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t b = 0; b < n; ++b) {
        const int64_t plane = (b * c + ch) * h * w;
        depthwise_filter_plane(x + plane, dy + plane, h, w, &shifted, acc);
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
