// One AdamW step (PyTorch's torch.optim.AdamW) over n elements of one parameter, on raw buffers
// (the op behind train::AdamW, which keeps the state and computes the step's constants).
//
//   p (parameter), g (gradient), m (exp_avg), v (exp_avg_sq): n elements each, contiguous
//   p ← p·decay;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − step_size · m / (sqrt(v)·inv_sqrt_bc2 + eps)
// where decay = 1 − lr·weight_decay (1 without decay), step_size = lr / (1 − β1^t),
// inv_sqrt_bc2 = 1/sqrt(1 − β2^t). p, m and v are updated in place; g is read only.
// No backward: it is the optimizer. Backends, chosen here by T: float runs the Highway kernel
// (adamw_simd.h, elements split over qkv's threads); double runs the reference
// (adamw_reference.h).
#pragma once

#include <cstdint>

namespace qkv {

template <typename T>
struct AdamWStep {
  T beta1, beta2, eps, decay, step_size, inv_sqrt_bc2;
};

template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep<T>& s);

}  // namespace qkv
