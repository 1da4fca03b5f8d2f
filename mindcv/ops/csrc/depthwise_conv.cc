// 3x3 depthwise convolution, stride 1, padding 1 (forward, input gradient, filter gradient) on CPU. MindSpore
// 2.7's oneDNN path runs it as one small GEMM per channel on plain NCHW tensors; here every (n, c) plane is
// independent, so planes are split across the threads of a small pool (thread_pool.h); planes of 5x5 and less
// are worked on channels-last in blocks of channels instead.
// Compiled with the other csrc/*.cc files into one library, loaded as MindSpore AOT custom operators
// (mindcv/ops/cpu_kernels.py). All tensors are contiguous float32 NCHW. Signature of every exported function:
// MindSpore's AOT convention (inputs, then outputs, in params).
#include <algorithm>
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

}  // extern "C"
