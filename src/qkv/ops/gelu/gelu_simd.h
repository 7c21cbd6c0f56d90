// The float GELU kernel (Highway, dynamic dispatch to the best SIMD target compiled in; elements
// split over qkv's threads with a fixed partition). Internal: callers use gelu.h, which routes
// float here. Same arguments and formulas as gelu.h.
#pragma once

#include <cstdint>

namespace qkv::gelu_simd {

void forward(const float* x, float* y, int64_t n);
void backward(const float* x, const float* dy, float* dx, int64_t n);

}  // namespace qkv::gelu_simd
