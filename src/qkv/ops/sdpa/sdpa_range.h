// Scores the floating type can resolve, and results that must stay finite.
//
// Each score is scale·(q_i·k_j), and the softmax only uses score differences. A float32 score of
// magnitude S carries a rounding error of about S·d·2⁻²⁴ (d products summed), so past 2²⁴/d the
// error reaches 1 in the exponent and the weights are noise; near 3.4e38 the scores overflow and
// the kernels return zeros or inf. Rather than a silent wrong number, both directions refuse
// inputs whose bound |scale|·max_i‖q_i‖·max_j‖k_j‖·d exceeds 2²⁴ (2⁵³ for float64), checked in
// O(B·H·(Lq + Lk)·d) beside the O(Lq·Lk·d) kernels (Cauchy–Schwarz: |q·k| ≤ ‖q‖‖k‖). The backward
// checks before its kernel; the forward checks the scale first and the bound after its kernel,
// taking max_j ‖k_j‖ from the kernel when it measured every key while packing them (decoding
// reads K once, not twice: flash.h's KeyNorms), so a refused input costs one wasted forward.
// Additive masks are not part of the bound: a huge negative bias only hides a key.
// After a kernel ran, a non-finite result from finite inputs (an output, a weight or a gradient
// beyond the float range, e.g. dout = 1e30) is an error naming what overflowed.
#pragma once

#include <initializer_list>

#include "qkv/core/bf16.h"
#include "qkv/core/tensor.h"

namespace qkv {

// q (B, H, Lq, d), k (B, H, Lk, d); T is float, double or bf16 (bf16 is checked as float32).
// check_score_scale, then check_score_bound with the row norms of q and k.
template <typename T>
void check_score_range(const char* where, const Tensor<T>& q, const Tensor<T>& k, double scale);

// Throws when |scale| overflows T (float32 for bf16).
template <typename T>
void check_score_scale(const char* where, double scale);

// Throws when |scale|·max_q_norm·max_k_norm·d exceeds what T resolves (2²⁴, 2⁵³ for double).
template <typename T>
void check_score_bound(const char* where, double scale, double max_q_norm, double max_k_norm, int64_t d);

// The largest row norm of t (B, H, L, d) in float64; rows holding NaN or inf are skipped (NaN in,
// NaN out, as documented).
template <typename T>
double max_row_norm(const Tensor<T>& t);

// True when every element of t is finite (T is float, double or bf16).
template <typename T>
bool all_finite_values(const Tensor<T>& t);

// Throws when `result` holds NaN or ±inf while every tensor in `inputs` is finite (NaN inputs
// give NaN outputs, as documented). `what` names the result ("out", "dq", ...).
template <typename R, typename T>
void check_finite_result(const char* where, const char* what, const Tensor<R>& result,
                         std::initializer_list<const Tensor<T>*> inputs);

}  // namespace qkv
