// The float AdamW update kernel (Highway, dynamic dispatch to the best SIMD target compiled in;
// elements split over qkv's threads with a fixed partition). Internal: callers use adamw.h,
// which routes float here. Same arguments and formulas as adamw.h.
#pragma once

#include <cstdint>

#include "qkv/ops/adamw/adamw.h"

namespace qkv::adamw_simd {

void update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep<float>& s);

}  // namespace qkv::adamw_simd
