// y += x over n elements (residual connections and gradient accumulation).
//
//   y, x: n elements, contiguous. No saved state; the backward of y = a + b is the identity.
// float runs a Highway kernel (best SIMD target at run time, elements split over qkv's threads
// with a fixed partition); double runs the plain loop, single thread. Each element is one
// addition either way, so every backend gives the same result.
#pragma once

#include <cstdint>

namespace qkv::kernels {

void add_inplace(float* y, const float* x, int64_t n);
void add_inplace(double* y, const double* x, int64_t n);

}  // namespace qkv::kernels
