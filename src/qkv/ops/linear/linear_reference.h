// The one reference of the linear map (linear.h has the formulas): kernels::gemm_reference (a
// triple loop, every dot product summed in double) and plain loops for the bias. It is the double
// backend and the twin the float (oneDNN) path is tested against.
#pragma once

#include <cstdint>

#include "qkv/kernels/gemm.h"

namespace qkv {

template <typename T>
void linear_reference_forward(const T* x, const T* w, const T* b, T* y, int64_t rows, int64_t in, int64_t out) {
  if (b) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) y[r * out + o] = b[o];
  }
  kernels::gemm_reference<T>(false, true, rows, out, in, T(1), x, in, w, in, b ? T(1) : T(0), y, out);
}

template <typename T>
void linear_reference_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, int64_t rows, int64_t in,
                               int64_t out) {
  if (dx) kernels::gemm_reference<T>(false, false, rows, in, out, T(1), dy, out, w, in, T(0), dx, in);
  kernels::gemm_reference<T>(true, false, out, in, rows, T(1), dy, out, x, in, T(1), dw, in);
  if (db) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) db[o] += dy[r * out + o];
  }
}

}  // namespace qkv
