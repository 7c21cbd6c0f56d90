// Scaled dot-product attention: the default scale, argument validation (once per call) and the
// backend rule (see sdpa.h).
#include "qkv/ops/sdpa/sdpa.h"

#include <cmath>
#include <type_traits>

#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/sdpa_bf16.h"
#include "qkv/ops/sdpa/sdpa_fused.h"
#include "qkv/ops/sdpa/sdpa_range.h"
#include "qkv/ops/sdpa/sdpa_reference.h"
#include "qkv/core/memory_budget.h"

namespace qkv {

void validate_sdpa_args(const char* where, const Shape& q, const Shape& k, const Shape& v, const AttentionMask& mask,
                        const SdpaOptions& options) {
  QKV_CHECK(q.size() == 4, where, ": argument 'q' has shape ", shape_str(q), "; expected rank 4 (B, H, Lq, d)");
  QKV_CHECK(k.size() == 4, where, ": argument 'k' has shape ", shape_str(k), "; expected rank 4 (B, H, Lk, d)");
  QKV_CHECK(v.size() == 4, where, ": argument 'v' has shape ", shape_str(v), "; expected rank 4 (B, H, Lk, dv)");
  QKV_CHECK(q[3] >= 1, where, ": argument 'q' has shape ", shape_str(q), "; expected a head dim d >= 1");
  if (options.enable_gqa) {
    QKV_CHECK(k[0] == q[0] && k[1] >= 1 && q[1] % k[1] == 0, where, ": argument 'k' has shape ", shape_str(k),
              "; expected (", q[0], ", H_kv, Lk, ", q[3], ") with H_kv dividing the ", q[1],
              " heads of 'q' (enable_gqa)");
  } else {
    QKV_CHECK(k[0] == q[0] && k[1] == q[1], where, ": argument 'k' has shape ", shape_str(k), "; expected (", q[0],
              ", ", q[1], ", Lk, ", q[3], ") (batch and heads of 'q'; fewer key/value heads need enable_gqa)");
  }
  QKV_CHECK(k[3] == q[3], where, ": argument 'k' has shape ", shape_str(k), "; expected last dim ", q[3],
            " (the head dim of 'q')");
  QKV_CHECK(v[0] == k[0] && v[1] == k[1] && v[2] == k[2], where, ": argument 'v' has shape ", shape_str(v),
            "; expected (", k[0], ", ", k[1], ", ", k[2], ", dv) (batch, heads and keys of 'k')");
  validate_sdpa_variants(where, q[0], q[1], options);
  if (options.scale) {
    QKV_CHECK(std::isfinite(*options.scale), where, ": argument 'scale' is ", *options.scale,
              "; expected a finite number");
  }
  QKV_CHECK(options.dropout_p >= 0.0 && options.dropout_p <= 1.0, where, ": argument 'dropout_p' is ",
            options.dropout_p, "; expected 0 <= dropout_p <= 1");
  validate_mask(where, mask, q[0], q[1], q[2], k[2]);
  if (options.need_weights) {
    const double bytes = 4.0 * static_cast<double>(q[0]) * static_cast<double>(q[1]) * static_cast<double>(q[2]) *
                         static_cast<double>(k[2]);
    check_memory(where, bytes,
                 str("the attention weights of shape ", shape_str({q[0], q[1], q[2], k[2]}),
                     " (B, H, Lq, Lk) that need_weights / return_weights=True asks for; without them the fused "
                     "kernel needs no Lq × Lk memory"));
  }
}

void validate_sdpa_variants(const char* where, int64_t B, int64_t H, const SdpaOptions& options) {
  QKV_CHECK(options.window_left >= -1, where, ": argument 'window_left' is ", options.window_left,
            "; expected -1 (unbounded) or a key count >= 0");
  QKV_CHECK(options.window_right >= -1, where, ": argument 'window_right' is ", options.window_right,
            "; expected -1 (unbounded) or a key count >= 0");
  QKV_CHECK(std::isfinite(options.softcap) && options.softcap >= 0.0, where, ": argument 'softcap' is ",
            options.softcap, "; expected 0 (off) or a finite number > 0");
  const TensorF& a = options.alibi_slopes;
  if (!a.defined()) return;
  const Shape& s = a.shape();
  QKV_CHECK(s == Shape{H} || s == Shape({B, H}), where, ": argument 'alibi_slopes' has shape ", shape_str(s),
            "; expected ", shape_str({H}), " or ", shape_str({B, H}), " (heads of 'q', or batch and heads)");
  QKV_CHECK(all_finite_values(a), where, ": argument 'alibi_slopes' holds NaN or inf; expected finite slopes");
}

double sdpa_scale(const SdpaOptions& options, int64_t d) {
  return options.scale ? *options.scale : 1.0 / std::sqrt(static_cast<double>(d));
}

template <typename T>
AttentionBackend sdpa_backend(AttentionBackend requested, const char* where) {
  switch (requested) {
    case AttentionBackend::reference: return AttentionBackend::reference;
    case AttentionBackend::fused:
      QKV_CHECK((!std::is_same_v<T, double>), where,
                ": argument 'backend' is 'fused', which is float32 only (bf16 inputs run it too); use 'reference' "
                "or 'automatic' for double");
      return AttentionBackend::fused;
    case AttentionBackend::automatic:
      return std::is_same_v<T, double> ? AttentionBackend::reference : AttentionBackend::fused;
  }
  return AttentionBackend::reference;
}

namespace {

template <typename T>
constexpr bool is_bf16 = std::is_same_v<T, bf16>;

template <typename T>
const char* forward_name() {
  return is_bf16<T> ? "scaled_dot_product_attention_bf16" : "scaled_dot_product_attention";
}

template <typename T>
const char* backward_name() {
  return is_bf16<T> ? "scaled_dot_product_attention_bf16_backward" : "scaled_dot_product_attention_backward";
}

// key_norms: what the fused kernels measured of K (flash.h); untouched by the reference.
template <typename T>
void run_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const AttentionMask& mask,
                 const SdpaOptions& options, SdpaForward<sdpa_result_t<T>>& result, AttentionBackend backend,
                 kernels::KeyNorms& key_norms) {
  const bool fused = backend == AttentionBackend::fused;
  if constexpr (is_bf16<T>) {
    if (fused) {
      sdpa_bf16_forward_unchecked(q, k, v, mask, options, result, &key_norms);
    } else {
      sdpa_reference_forward_into(widen_bf16(q), widen_bf16(k), widen_bf16(v), mask, options, result);
    }
  } else if constexpr (std::is_same_v<T, float>) {
    if (fused) {
      sdpa_fused_forward_unchecked(q, k, v, mask, options, result, &key_norms);
    } else {
      sdpa_reference_forward_into(q, k, v, mask, options, result);
    }
  } else {
    sdpa_reference_forward_into(q, k, v, mask, options, result);
  }
}

template <typename T>
void run_backward(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                  const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask, const SdpaOptions& options,
                  SdpaGrads<sdpa_result_t<T>>& grads, AttentionBackend backend) {
  const bool fused = backend == AttentionBackend::fused;
  if constexpr (is_bf16<T>) {
    if (fused) {
      sdpa_bf16_backward_unchecked(dout, q, k, v, fwd, mask, options, grads);
    } else {
      sdpa_reference_backward_into(dout, widen_bf16(q), widen_bf16(k), widen_bf16(v), fwd, mask, options, grads);
    }
  } else if constexpr (std::is_same_v<T, float>) {
    if (fused) {
      sdpa_fused_backward_unchecked(dout, q, k, v, fwd, mask, options, grads);
    } else {
      sdpa_reference_backward_into(dout, q, k, v, fwd, mask, options, grads);
    }
  } else {
    sdpa_reference_backward_into(dout, q, k, v, fwd, mask, options, grads);
  }
}

// A non-finite gradient from finite dout, q, k and v is an error (sdpa_range.h).
template <typename T>
void check_grads_finite(const char* where, const SdpaGrads<sdpa_result_t<T>>& g,
                        const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k,
                        const Tensor<T>& v) {
  if constexpr (is_bf16<T>) {
    if (!all_finite_values(dout)) return;
    check_finite_result(where, "dq", g.dq, {&q, &k, &v});
    check_finite_result(where, "dk", g.dk, {&q, &k, &v});
    check_finite_result(where, "dv", g.dv, {&q, &k, &v});
  } else {
    check_finite_result(where, "dq", g.dq, {&dout, &q, &k, &v});
    check_finite_result(where, "dk", g.dk, {&dout, &q, &k, &v});
    check_finite_result(where, "dv", g.dv, {&dout, &q, &k, &v});
  }
}

}  // namespace

template <typename T>
void sdpa_forward_into_validated(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                 const AttentionMask& mask, const SdpaOptions& options,
                                 SdpaForward<sdpa_result_t<T>>& result, AttentionBackend backend) {
  const char* where = forward_name<T>();
  const double scale = sdpa_scale(options, q.dim(3));
  check_score_scale<T>(where, scale);
  kernels::KeyNorms seen;
  run_forward(q, k, v, mask, options, result, sdpa_backend<T>(backend, where), seen);
  if (q.numel() > 0 && k.numel() > 0) {
    const bool measured = seen.finite && seen.rows == k.dim(0) * k.dim(1) * k.dim(2);
    check_score_bound<T>(where, scale, max_row_norm(q), measured ? std::sqrt(seen.max_sq) : max_row_norm(k),
                         q.dim(3));
  }
  check_finite_result(where, "out", result.out, {&q, &k, &v});
  check_finite_result(where, "weights", result.weights, {&q, &k, &v});
}

template <typename T>
void sdpa_backward_into_validated(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k,
                                  const Tensor<T>& v, const SdpaForward<sdpa_result_t<T>>& fwd,
                                  const AttentionMask& mask, const SdpaOptions& options,
                                  SdpaGrads<sdpa_result_t<T>>& grads, AttentionBackend backend) {
  const char* where = backward_name<T>();
  check_score_range(where, q, k, sdpa_scale(options, q.dim(3)));
  run_backward(dout, q, k, v, fwd, mask, options, grads, sdpa_backend<T>(backend, where));
  check_grads_finite(where, grads, dout, q, k, v);
}

template <typename T>
void sdpa_forward_into(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const AttentionMask& mask,
                       const SdpaOptions& options, SdpaForward<sdpa_result_t<T>>& result, AttentionBackend backend) {
  validate_sdpa_args(forward_name<T>(), q.shape(), k.shape(), v.shape(), mask, options);
  sdpa_forward_into_validated(q, k, v, mask, options, result, backend);
}

template <typename T>
void sdpa_backward_into(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q, const Tensor<T>& k,
                        const Tensor<T>& v, const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask,
                        const SdpaOptions& options, SdpaGrads<sdpa_result_t<T>>& grads, AttentionBackend backend) {
  const char* where = backward_name<T>();
  validate_sdpa_args(where, q.shape(), k.shape(), v.shape(), mask, options);
  const Shape out_shape{q.dim(0), q.dim(1), q.dim(2), v.dim(3)};
  check_shape(where, "dout", dout, out_shape);
  QKV_CHECK(fwd.lse.defined(), where, ": argument 'fwd' has no saved 'lse'; pass what sdpa_forward returned");
  check_shape(where, "fwd.lse", fwd.lse, {q.dim(0), q.dim(1), q.dim(2)});
  if (sdpa_backend<T>(backend, where) == AttentionBackend::fused) check_shape(where, "fwd.out", fwd.out, out_shape);
  sdpa_backward_into_validated(dout, q, k, v, fwd, mask, options, grads, backend);
}

template <typename T>
SdpaForward<sdpa_result_t<T>> sdpa_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                           const AttentionMask& mask, const SdpaOptions& options,
                                           AttentionBackend backend) {
  SdpaForward<sdpa_result_t<T>> fwd;
  sdpa_forward_into(q, k, v, mask, options, fwd, backend);
  return fwd;
}

template <typename T>
SdpaGrads<sdpa_result_t<T>> sdpa_backward(const Tensor<sdpa_result_t<T>>& dout, const Tensor<T>& q,
                                          const Tensor<T>& k, const Tensor<T>& v,
                                          const SdpaForward<sdpa_result_t<T>>& fwd, const AttentionMask& mask,
                                          const SdpaOptions& options, AttentionBackend backend) {
  SdpaGrads<sdpa_result_t<T>> g;
  sdpa_backward_into(dout, q, k, v, fwd, mask, options, g, backend);
  return g;
}

#define QKV_INSTANTIATE(T)                                                                                          \
  template AttentionBackend sdpa_backend<T>(AttentionBackend, const char*);                                         \
  template void sdpa_forward_into_validated(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,                  \
                                            const AttentionMask&, const SdpaOptions&,                               \
                                            SdpaForward<sdpa_result_t<T>>&, AttentionBackend);                      \
  template void sdpa_backward_into_validated(const Tensor<sdpa_result_t<T>>&, const Tensor<T>&, const Tensor<T>&,  \
                                             const Tensor<T>&, const SdpaForward<sdpa_result_t<T>>&,                \
                                             const AttentionMask&, const SdpaOptions&,                              \
                                             SdpaGrads<sdpa_result_t<T>>&, AttentionBackend);                       \
  template void sdpa_forward_into(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const AttentionMask&,      \
                                  const SdpaOptions&, SdpaForward<sdpa_result_t<T>>&, AttentionBackend);            \
  template void sdpa_backward_into(const Tensor<sdpa_result_t<T>>&, const Tensor<T>&, const Tensor<T>&,            \
                                   const Tensor<T>&, const SdpaForward<sdpa_result_t<T>>&, const AttentionMask&,    \
                                   const SdpaOptions&, SdpaGrads<sdpa_result_t<T>>&, AttentionBackend);             \
  template SdpaForward<sdpa_result_t<T>> sdpa_forward(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,        \
                                                      const AttentionMask&, const SdpaOptions&, AttentionBackend);  \
  template SdpaGrads<sdpa_result_t<T>> sdpa_backward(const Tensor<sdpa_result_t<T>>&, const Tensor<T>&,            \
                                                     const Tensor<T>&, const Tensor<T>&,                            \
                                                     const SdpaForward<sdpa_result_t<T>>&, const AttentionMask&,    \
                                                     const SdpaOptions&, AttentionBackend);
QKV_INSTANTIATE(float)
QKV_INSTANTIATE(double)
QKV_INSTANTIATE(bf16)
#undef QKV_INSTANTIATE

}  // namespace qkv
