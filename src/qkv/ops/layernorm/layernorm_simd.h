// The float LayerNorm kernel (Highway, dynamic dispatch to the best SIMD target compiled in;
// rows split over qkv's threads with a fixed partition). Internal: callers use layernorm.h,
// which routes float here. Same arguments and formulas as layernorm.h.
#pragma once

#include <cstdint>

namespace qkv::layernorm_simd {

void forward(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
             int64_t rows, int64_t cols, float eps);
void backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
              float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols);

}  // namespace qkv::layernorm_simd
