// Learning-rate schedule: linear warm-up from 0 to peak over `warmup` steps, then cosine decay
// from peak to min_lr at step `total`. Step s (0-based) is the step about to be taken.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "qkv/core/error.h"

namespace qkv::train {

inline double warmup_cosine_lr(int64_t step, int64_t warmup, int64_t total, double peak, double min_lr = 0.0) {
  QKV_CHECK(warmup >= 0 && total > 0 && warmup <= total, "warmup_cosine_lr: warmup=", warmup, " total=", total,
            "; expected 0 <= warmup <= total and total > 0");
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return min_lr + 0.5 * (peak - min_lr) * (1.0 + std::cos(3.14159265358979323846 * progress));
}

}  // namespace qkv::train
