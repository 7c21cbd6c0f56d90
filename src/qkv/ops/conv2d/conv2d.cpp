// The 2-D convolution's one backend switch and its float path: im2col + oneDNN's matrix products.
//
// Float scratch (scratch_size()): cols (R, K) with R = B·OH·OW rows (n, i, j) and K = C·k·k
// columns (c, u, v), then Z (R, O). Forward: cols = im2col(x); Z = cols·wᵀ; y[n,o,·] = Z[(n,·),o] + b[o].
// Backward: cols = im2col(x) again (the forward saves nothing); dZ = dy transposed to (R, O);
// dw += dZᵀ·cols; db += Σ dy; dcols = dZ·w (into cols); dx = col2im(dcols), one (n, c) plane per
// task, so every sum runs in a fixed order at any thread count.
#include "qkv/ops/conv2d/conv2d.h"

#include <algorithm>
#include <type_traits>

#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
#include "qkv/kernels/gemm.h"
#include "qkv/ops/conv2d/conv2d_reference.h"

namespace qkv {
namespace {

void im2col(const Conv2dShape& s, const float* x, float* cols) {
  const int64_t C = s.in_channels, H = s.height, W = s.width, k = s.kernel, OH = s.out_height(), OW = s.out_width();
  const int64_t K = C * k * k;
  parallel_for(s.batch * OH, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH, i = r % OH;
      for (int64_t j = 0; j < OW; ++j) {
        float* row = cols + (r * OW + j) * K;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t u = 0; u < k; ++u) {
            const int64_t yy = i * s.stride + u - s.padding;
            const float* src = x + ((n * C + c) * H + yy) * W;
            for (int64_t v = 0; v < k; ++v) {
              const int64_t xx = j * s.stride + v - s.padding;
              *row++ = (yy < 0 || yy >= H || xx < 0 || xx >= W) ? 0.0f : src[xx];
            }
          }
      }
    }
  });
}

void col2im(const Conv2dShape& s, const float* cols, float* dx) {
  const int64_t C = s.in_channels, H = s.height, W = s.width, k = s.kernel, OH = s.out_height(), OW = s.out_width();
  const int64_t K = C * k * k;
  parallel_for(s.batch * C, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / C, c = p % C;
      float* plane = dx + p * H * W;
      std::fill(plane, plane + H * W, 0.0f);
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          const float* row = cols + ((n * OH + i) * OW + j) * K + c * k * k;
          for (int64_t u = 0; u < k; ++u) {
            const int64_t yy = i * s.stride + u - s.padding;
            if (yy < 0 || yy >= H) continue;
            for (int64_t v = 0; v < k; ++v) {
              const int64_t xx = j * s.stride + v - s.padding;
              if (xx >= 0 && xx < W) plane[yy * W + xx] += row[u * k + v];
            }
          }
        }
    }
  });
}

void forward_f32(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y, float* scratch) {
  const int64_t O = s.out_channels, P = s.out_height() * s.out_width(), R = s.batch * P;
  const int64_t K = s.in_channels * s.kernel * s.kernel;
  float* cols = scratch;
  float* z = scratch + R * K;
  im2col(s, x, cols);
  kernels::gemm(false, true, R, O, K, 1.0f, cols, K, w, K, 0.0f, z, O);
  parallel_for(s.batch * O, 4, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n = q / O, o = q % O;
      const float bias = b ? b[o] : 0.0f;
      float* dst = y + q * P;
      const float* src = z + n * P * O + o;
      for (int64_t p = 0; p < P; ++p) dst[p] = src[p * O] + bias;
    }
  });
}

void backward_f32(const Conv2dShape& s, const float* dy, const float* x, const float* w, float* dx, float* dw,
                  float* db, float* scratch) {
  const int64_t O = s.out_channels, P = s.out_height() * s.out_width(), R = s.batch * P;
  const int64_t K = s.in_channels * s.kernel * s.kernel;
  float* cols = scratch;
  float* dz = scratch + R * K;
  im2col(s, x, cols);
  parallel_for(s.batch, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t o = 0; o < O; ++o) {
        const float* src = dy + (n * O + o) * P;
        float* dst = dz + n * P * O + o;
        for (int64_t p = 0; p < P; ++p) dst[p * O] = src[p];
      }
  });
  kernels::gemm(true, false, O, K, R, 1.0f, dz, O, cols, K, 1.0f, dw, K);
  if (db) {
    parallel_for(O, 1, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        double acc = 0;
        for (int64_t n = 0; n < s.batch; ++n) {
          const float* src = dy + (n * O + o) * P;
          for (int64_t p = 0; p < P; ++p) acc += src[p];
        }
        db[o] += static_cast<float>(acc);
      }
    });
  }
  if (dx) {
    kernels::gemm(false, false, R, K, O, 1.0f, dz, O, w, K, 0.0f, cols, K);
    col2im(s, cols, dx);
  }
}

}  // namespace

void Conv2dShape::validate(const char* who) const {
  QKV_CHECK(batch >= 1, who, ": batch=", batch, "; expected >= 1");
  QKV_CHECK(in_channels >= 1, who, ": in_channels=", in_channels, "; expected >= 1");
  QKV_CHECK(out_channels >= 1, who, ": out_channels=", out_channels, "; expected >= 1");
  QKV_CHECK(height >= 1 && width >= 1, who, ": input size ", height, "x", width, "; expected at least 1x1");
  QKV_CHECK(kernel >= 1, who, ": kernel=", kernel, "; expected >= 1");
  QKV_CHECK(stride >= 1, who, ": stride=", stride, "; expected >= 1");
  QKV_CHECK(padding >= 0 && padding < kernel, who, ": padding=", padding, "; expected 0..", kernel - 1,
            " (below kernel=", kernel, ")");
  QKV_CHECK(kernel <= height + 2 * padding && kernel <= width + 2 * padding, who, ": kernel=", kernel,
            " is larger than the padded input ", height + 2 * padding, "x", width + 2 * padding);
}

int64_t Conv2dShape::scratch_size() const {
  const int64_t R = batch * out_height() * out_width();
  return R * (in_channels * kernel * kernel + out_channels);
}

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y, T* scratch) {
  if constexpr (std::is_same_v<T, float>) {
    forward_f32(s, x, w, b, y, scratch);
  } else {
    conv2d_reference_forward(s, x, w, b, y);
  }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, T* scratch) {
  if constexpr (std::is_same_v<T, float>) {
    backward_f32(s, dy, x, w, dx, dw, db, scratch);
  } else {
    conv2d_reference_backward(s, dy, x, w, dx, dw, db);
  }
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                     double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*,
                                     float*, float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                      double*, double*, double*);

}  // namespace qkv
