// Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth"; timm's DropPath):
// in training, each sample's residual branch is dropped with probability p and a kept branch is
// scaled by 1/(1 − p), so its expected value is unchanged; in evaluation the branch is kept as is.
//
//   x, f, y: (B, n) rows of n elements, one row per sample
// Forward:  y[b] = x[b] + s_b · f[b],  s_b = drop_path_scales(seed, B, p)[b] ∈ {0, 1/(1 − p)}
//           (p = 0 or not training: s_b = 1). Saves s (B values) for the backward.
// Backward: dx = dy (the residual path, left to the caller);  df[b] = s_b · dy[b].
// s_b is a counter-based draw on (seed, b) (core/rng.h), so the same seed gives the same mask on
// every thread count and after a resume.
#pragma once

#include <cstdint>
#include <vector>

namespace qkv::nn {

// Per-sample scales: s_b = 0 when counter_uniform(seed, b) < p, else 1/(1 − p); all 1 when p = 0.
std::vector<double> drop_path_scales(uint64_t seed, int64_t batch, double p);

// y = x + s_b·f, row by row (y may alias x or f).
template <typename T>
void drop_path_add(const T* x, const T* f, T* y, const std::vector<double>& s, int64_t n);

// df = s_b·dy, row by row (df may alias dy).
template <typename T>
void drop_path_scale_rows(const T* dy, T* df, const std::vector<double>& s, int64_t n);

}  // namespace qkv::nn
