// 1x1 convolution, stride 1, no bias (Xception's pointwise convolutions) as matrix products in oneDNN's sgemm,
// from the oneDNN library MindSpore ships (libdnnl.so.2), loaded as MindSpore AOT custom operators
// (mindcv/ops/cpu_kernels.py). MindSpore 2.7's CPU Conv2D and its two gradients reach 95-145 GFLOP/s on
// these layers on 2 cores; the same products as sgemm calls split over our thread pool run ~2x faster.
//
// For x (N, Cin, HW), weight (Cout, Cin) and y (N, Cout, HW), all contiguous float32:
//   forward        y[n]  = W    . x[n]
//   input grad     dx[n] = W^T  . dy[n]
//   filter grad    dW    = sum_n dy[n] . x[n]^T
// Maps of at least kPerImageColumns pixels are multiplied image by image (the products are wide enough).
// Smaller maps (down to 3x3 at 71 px) would give products a few columns wide, so there the images are first
// laid side by side, (C, N * HW), and each operator is a single product over all of them; so is a single
// image, which needs no copy, with the rows of the result split over the threads.
// The *Bf16 entry points are the same products with bf16 inputs and float32 accumulation and outputs (oneDNN's
// gemm_bf16bf16f32; AVX512-BF16 or AMX): x, dy and the weight are rounded to bf16 (nearest even) first.
// Built only with MINDCV_WITH_ONEDNN (cpu_kernels.py defines it when MindSpore's libdnnl.so.2 is present).
#ifdef MINDCV_WITH_ONEDNN
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "thread_pool.h"

extern "C" int dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
extern "C" int dnnl_gemm_bf16bf16f32(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                                     const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                                     float* c, int64_t ldc);

namespace {

using mindcv::parallel_for;

constexpr int64_t kPerImageColumns = 256;

// Set when an sgemm call fails; the operator then returns an error to MindSpore instead of a wrong result.
std::atomic<bool> gemm_failed{false};

using bf16 = uint16_t;  // the upper half of a float32

// Row-major C (m x n) = op(A) . op(B) (+ C when accumulate), op = transpose when the flag is set.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate = false) {
  if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f,
                 c, ldc) != 0)
    gemm_failed = true;
}

// oneDNN's status for a primitive this CPU cannot run (dnnl_unimplemented).
constexpr int kUnimplemented = 3;

// The rows x columns matrix at ``x`` (leading dimension ``ld``) widened to float32, exactly, in ``out``.
const float* widened(const bf16* x, int64_t rows, int64_t columns, int64_t ld, std::vector<float>& out) {
  const int64_t size = (rows - 1) * ld + columns;
  if (static_cast<int64_t>(out.size()) < size) out.resize(size);
  for (int64_t i = 0; i < size; ++i) {
    const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
    std::memcpy(&out[i], &bits, sizeof(float));
  }
  return out.data();
}

// The same with bf16 A and B, float32 accumulation and C. oneDNN has no bf16 product before AVX-512; there the
// operands are widened to float32 (exact: a product of two bf16 values fits a float32) and multiplied by sgemm,
// which computes the same products with float32 accumulation, slower. Models use bf16 only on CPUs with bf16
// instructions (cpu_has_bf16), so this path serves direct calls and tests on other CPUs.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const bf16* a, int64_t lda, const bf16* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate = false) {
  static std::atomic<bool> unimplemented{false};
  if (!unimplemented) {
    const int code = dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb,
                                           accumulate ? 1.0f : 0.0f, c, ldc);
    if (code == 0) return;
    if (code != kUnimplemented) {
      gemm_failed = true;
      return;
    }
    unimplemented = true;
  }
  thread_local std::vector<float> a32, b32;
  gemm(trans_a, trans_b, m, n, k, widened(a, trans_a ? k : m, trans_a ? m : k, lda, a32), lda,
       widened(b, trans_b ? n : k, trans_b ? k : n, ldb, b32), ldb, c, ldc, accumulate);
}

// MindSpore's AOT return code: 0 when every product of the call succeeded.
int status() { return gemm_failed.exchange(false) ? 1 : 0; }

// Scratch of one calling thread, grown as needed (no allocation per call once warm). Slots 0-1 hold side-by-side
// copies, 2-3 the bf16 copies of the operands.
template <typename T>
T* scratch(int slot, int64_t size) {
  thread_local std::vector<T> buffers[4];
  if (static_cast<int64_t>(buffers[slot].size()) < size) buffers[slot].resize(size);
  return buffers[slot].data();
}

// (N, C, HW) <-> (C, N * HW): images side by side.
template <typename T>
void to_side_by_side(const T* x, T* xs, int64_t n, int64_t c, int64_t hw) {
  parallel_for(c, [=](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch)
      for (int64_t i = 0; i < n; ++i) std::memcpy(xs + (ch * n + i) * hw, x + (i * c + ch) * hw, sizeof(T) * hw);
  });
}

void from_side_by_side(const float* xs, float* x, int64_t n, int64_t c, int64_t hw) {
  parallel_for(c, [=](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch)
      for (int64_t i = 0; i < n; ++i) std::memcpy(x + (i * c + ch) * hw, xs + (ch * n + i) * hw, sizeof(float) * hw);
  });
}

// float32 -> bf16, rounded to nearest even (NaN stays NaN).
inline bf16 to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<bf16>(bits >> 16);
}

// A bf16 copy of ``size`` floats in scratch ``slot``.
const bf16* bf16_copy(const float* x, int64_t size, int slot) {
  bf16* out = scratch<bf16>(slot, size);
  const int64_t blocks = (size + 4095) / 4096;
  parallel_for(blocks, [=](int64_t begin, int64_t end) {
    const int64_t stop = std::min(end * 4096, size);
    for (int64_t i = begin * 4096; i < stop; ++i) out[i] = to_bf16(x[i]);
  });
  return out;
}

// Row blocks of an m-row product for parallel_for: multiples of 16 rows (whole vectors for the sgemm kernels).
inline int64_t row_blocks(int64_t m) { return (m + 15) / 16; }
inline int64_t block_row(int64_t block, int64_t m) { return std::min(block * 16, m); }

// x (N, C, HW) as (C, N * HW): copied into scratch ``slot``, except a single image, which already is.
template <typename T>
const T* side_by_side(const T* x, int slot, int64_t n, int64_t c, int64_t hw) {
  if (n == 1) return x;
  T* xs = scratch<T>(slot, c * n * hw);
  to_side_by_side(x, xs, n, c, hw);
  return xs;
}

// out (N, M, HW) = op(W) (M x K) . in (N, K, HW), with op(W) = W (M x K) or W^T (W stored K x M).
template <typename T>
void apply_weight(const T* w, bool transpose_w, const T* in, float* out, int64_t n, int64_t m, int64_t k,
                  int64_t hw) {
  const int64_t ldw = transpose_w ? m : k;
  if (hw >= kPerImageColumns && n >= 2) {
    parallel_for(n, [=](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        gemm(transpose_w, false, m, hw, k, w, ldw, in + i * k * hw, hw, out + i * m * hw, hw);
    });
    return;
  }
  const int64_t columns = n * hw;
  const T* in_s = side_by_side(in, 0, n, k, hw);
  float* out_s = n == 1 ? out : scratch<float>(1, m * columns);
  parallel_for(row_blocks(m), [=](int64_t begin, int64_t end) {
    const int64_t r0 = block_row(begin, m), r1 = block_row(end, m);
    const T* w_rows = transpose_w ? w + r0 : w + r0 * k;
    gemm(transpose_w, false, r1 - r0, columns, k, w_rows, ldw, in_s, columns, out_s + r0 * columns, columns);
  });
  if (n > 1) from_side_by_side(out_s, out, n, m, hw);
}

// dw (Cout, Cin) = sum_n dy[n] (Cout x HW) . x[n]^T (HW x Cin), rows of dw split over the threads.
template <typename T>
void filter_grad(const T* x, const T* dy, float* dw, int64_t n, int64_t cin, int64_t cout, int64_t hw) {
  if (hw >= kPerImageColumns && n >= 2) {
    parallel_for(row_blocks(cout), [=](int64_t begin, int64_t end) {
      const int64_t r0 = block_row(begin, cout), r1 = block_row(end, cout);
      for (int64_t i = 0; i < n; ++i)
        gemm(false, true, r1 - r0, cin, hw, dy + (i * cout + r0) * hw, hw, x + i * cin * hw, hw, dw + r0 * cin, cin,
             i > 0);
    });
    return;
  }
  const int64_t columns = n * hw;
  const T* x_s = side_by_side(x, 0, n, cin, hw);
  const T* dy_s = side_by_side(dy, 1, n, cout, hw);
  parallel_for(row_blocks(cout), [=](int64_t begin, int64_t end) {
    const int64_t r0 = block_row(begin, cout), r1 = block_row(end, cout);
    gemm(false, true, r1 - r0, cin, columns, dy_s + r0 * columns, columns, x_s, columns, dw + r0 * cin, cin);
  });
}

int64_t elements(const int64_t* shape) { return shape[0] * shape[1] * shape[2] * shape[3]; }

// The operator's two float32 (N, C, H, W) inputs as bf16 copies.
using Bf16Inputs = std::pair<const bf16*, const bf16*>;
Bf16Inputs bf16_inputs(void** params, int64_t** shapes) {
  return {bf16_copy(static_cast<const float*>(params[0]), elements(shapes[0]), 2),
          bf16_copy(static_cast<const float*>(params[1]), elements(shapes[1]), 3)};
}

}  // namespace

extern "C" {

// inputs: x (N, Cin, H, W), weight (Cout, Cin, 1, 1); output: y (N, Cout, H, W)
int PointwiseConv(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  apply_weight(static_cast<float*>(params[1]), false, static_cast<const float*>(params[0]),
               static_cast<float*>(params[2]), s[0], shapes[1][0], s[1], s[2] * s[3]);
  return status();
}

// inputs: dy (N, Cout, H, W), weight (Cout, Cin, 1, 1); output: dx (N, Cin, H, W)
int PointwiseConvGradInput(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  apply_weight(static_cast<float*>(params[1]), true, static_cast<const float*>(params[0]),
               static_cast<float*>(params[2]), s[0], shapes[1][1], s[1], s[2] * s[3]);
  return status();
}

// inputs: x (N, Cin, H, W), dy (N, Cout, H, W); output: dweight (Cout, Cin, 1, 1)
int PointwiseConvGradFilter(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  filter_grad(static_cast<const float*>(params[0]), static_cast<const float*>(params[1]),
              static_cast<float*>(params[2]), s[0], s[1], shapes[1][1], s[2] * s[3]);
  return status();
}

// The same three with bf16 inputs (rounded from the float32 tensors) and float32 accumulation and output.
int PointwiseConvBf16(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  const Bf16Inputs in = bf16_inputs(params, shapes);
  apply_weight(in.second, false, in.first, static_cast<float*>(params[2]), s[0], shapes[1][0], s[1], s[2] * s[3]);
  return status();
}

int PointwiseConvGradInputBf16(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  const Bf16Inputs in = bf16_inputs(params, shapes);
  apply_weight(in.second, true, in.first, static_cast<float*>(params[2]), s[0], shapes[1][1], s[1], s[2] * s[3]);
  return status();
}

int PointwiseConvGradFilterBf16(int, void** params, int*, int64_t** shapes, const char**, void*, void*) {
  const int64_t* s = shapes[0];
  const Bf16Inputs in = bf16_inputs(params, shapes);
  filter_grad(in.first, in.second, static_cast<float*>(params[2]), s[0], s[1], shapes[1][1], s[2] * s[3]);
  return status();
}

}  // extern "C"

#endif  // MINDCV_WITH_ONEDNN
