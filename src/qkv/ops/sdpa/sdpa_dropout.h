// The dropout rule of scaled dot-product attention, shared by every backend (the reference, the
// fused kernels) and by the backward, so all of them recompute the same keep/drop decisions.
//
// Weight (b, h, i, j) of a (B, H, Lq, Lk) attention, with bh = b·H + h, is dropped when
//   counter_uniform(seed, (bh·Lq + i)·Lk + j) < p
// and a kept weight is scaled by 1/(1−p). No state is saved for the backward: it recomputes the
// factors Z_ij from the same counters (dV = (P∘Z)ᵀ dO, dP = (dO Vᵀ)∘Z; see sdpa.h).
#pragma once

#include <cstdint>

#include "qkv/core/rng.h"

namespace qkv {

// The counter of weight (bh, i, j): ((b·H + h)·Lq + i)·Lk + j.
inline uint64_t sdpa_dropout_counter(int64_t bh, int64_t i, int64_t j, int64_t Lq, int64_t Lk) {
  return (static_cast<uint64_t>(bh) * static_cast<uint64_t>(Lq) + static_cast<uint64_t>(i)) *
             static_cast<uint64_t>(Lk) +
         static_cast<uint64_t>(j);
}

// True when weight (bh, i, j) is dropped at probability p (never when p <= 0).
inline bool sdpa_dropped(uint64_t seed, double p, int64_t bh, int64_t i, int64_t j, int64_t Lq, int64_t Lk) {
  return p > 0.0 && counter_uniform(seed, sdpa_dropout_counter(bh, i, j, Lq, Lk)) < p;
}

}  // namespace qkv
