// The linear map's one backend switch: float → oneDNN (kernels::gemm), double → the reference.
#include "qkv/ops/linear/linear.h"

#include <type_traits>

#include "qkv/kernels/gemm.h"
#include "qkv/ops/linear/linear_reference.h"

namespace qkv {

template <typename T>
void linear_forward(const T* x, const T* w, const T* b, T* y, int64_t rows, int64_t in, int64_t out) {
  if constexpr (std::is_same_v<T, float>) {
    if (b) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) y[r * out + o] = b[o];
    }
    kernels::gemm(false, true, rows, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
  } else {
    linear_reference_forward(x, w, b, y, rows, in, out);
  }
}

template <typename T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t rows, int64_t in,
                     int64_t out) {
  if constexpr (std::is_same_v<T, float>) {
    if (dx) kernels::gemm(false, false, rows, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    kernels::gemm(true, false, out, in, rows, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) db[o] += dy[r * out + o];
    }
  } else {
    linear_reference_backward(dy, x, w, dx, dw, db, rows, in, out);
  }
}

template void linear_forward<float>(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t);
template void linear_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                     int64_t);
template void linear_backward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                      int64_t, int64_t, int64_t);

}  // namespace qkv
