// Scaled dot-product attention: argument validation and backend dispatch (see sdpa.h).
#include "qkv/ops/sdpa/sdpa.h"

#include <cmath>
#include <type_traits>

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
  QKV_CHECK(k[0] == q[0] && k[1] == q[1], where, ": argument 'k' has shape ", shape_str(k), "; expected (", q[0],
            ", ", q[1], ", Lk, ", q[3], ") (batch and heads of 'q')");
  QKV_CHECK(k[3] == q[3], where, ": argument 'k' has shape ", shape_str(k), "; expected last dim ", q[3],
            " (the head dim of 'q')");
  QKV_CHECK(v[0] == q[0] && v[1] == q[1] && v[2] == k[2], where, ": argument 'v' has shape ", shape_str(v),
            "; expected (", q[0], ", ", q[1], ", ", k[2], ", dv) (batch and heads of 'q', keys of 'k')");
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

namespace {

template <typename T>
bool use_fused(const AttentionMask& mask, const SdpaOptions& options, AttentionBackend backend, const char* where) {
  switch (backend) {
    case AttentionBackend::reference: return false;
    case AttentionBackend::fused:
      QKV_CHECK((std::is_same_v<T, float>), where,
                ": argument 'backend' is 'fused', which is float32 only; use 'reference' or 'automatic' for "
                "double");
      return true;
    case AttentionBackend::automatic:
      if constexpr (std::is_same_v<T, float>) return sdpa_fused_supports(mask, options);
      return false;
  }
  return false;
}

}  // namespace

template <typename T>
void sdpa_forward_into(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const AttentionMask& mask,
                       const SdpaOptions& options, SdpaForward<T>& result, AttentionBackend backend) {
  constexpr const char* where = "scaled_dot_product_attention";
  validate_sdpa_args(where, q.shape(), k.shape(), v.shape(), mask, options);
  check_score_range(where, q, k, sdpa_scale(options, q.dim(3)));
  bool fused = false;
  if (use_fused<T>(mask, options, backend, where)) {
    if constexpr (std::is_same_v<T, float>) {
      sdpa_fused_forward_into(q, k, v, mask, options, result);
      fused = true;
    }
  }
  if (!fused) sdpa_reference_forward_into(q, k, v, mask, options, result);
  check_finite_result(where, "out", result.out, {&q, &k, &v});
  check_finite_result(where, "weights", result.weights, {&q, &k, &v});
}

template <typename T>
void sdpa_backward_into(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                        const SdpaForward<T>& fwd, const AttentionMask& mask, const SdpaOptions& options,
                        SdpaGrads<T>& grads, AttentionBackend backend) {
  constexpr const char* where = "scaled_dot_product_attention_backward";
  validate_sdpa_args(where, q.shape(), k.shape(), v.shape(), mask, options);
  check_shape(where, "dout", dout, {q.dim(0), q.dim(1), q.dim(2), v.dim(3)});
  QKV_CHECK(fwd.lse.defined(), where, ": argument 'fwd' has no saved 'lse'; pass what sdpa_forward returned");
  check_shape(where, "fwd.lse", fwd.lse, {q.dim(0), q.dim(1), q.dim(2)});
  check_score_range(where, q, k, sdpa_scale(options, q.dim(3)));
  bool fused = false;
  if (use_fused<T>(mask, options, backend, where)) {
    if constexpr (std::is_same_v<T, float>) {
      sdpa_fused_backward_into(dout, q, k, v, fwd, mask, options, grads);
      fused = true;
    }
  }
  if (!fused) sdpa_reference_backward_into(dout, q, k, v, fwd, mask, options, grads);
  check_finite_result(where, "dq", grads.dq, {&dout, &q, &k, &v});
  check_finite_result(where, "dk", grads.dk, {&dout, &q, &k, &v});
  check_finite_result(where, "dv", grads.dv, {&dout, &q, &k, &v});
}

template <typename T>
SdpaForward<T> sdpa_forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const AttentionMask& mask,
                            const SdpaOptions& options, AttentionBackend backend) {
  SdpaForward<T> fwd;
  sdpa_forward_into(q, k, v, mask, options, fwd, backend);
  return fwd;
}

template <typename T>
SdpaGrads<T> sdpa_backward(const Tensor<T>& dout, const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                           const SdpaForward<T>& fwd, const AttentionMask& mask, const SdpaOptions& options,
                           AttentionBackend backend) {
  SdpaGrads<T> g;
  sdpa_backward_into(dout, q, k, v, fwd, mask, options, g, backend);
  return g;
}

#define QKV_INSTANTIATE_INTO(T)                                                                                    \
  template void sdpa_forward_into(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const AttentionMask&,     \
                                  const SdpaOptions&, SdpaForward<T>&, AttentionBackend);                          \
  template void sdpa_backward_into(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,        \
                                   const SdpaForward<T>&, const AttentionMask&, const SdpaOptions&, SdpaGrads<T>&, \
                                   AttentionBackend);
QKV_INSTANTIATE_INTO(float)
QKV_INSTANTIATE_INTO(double)
#undef QKV_INSTANTIATE_INTO

template SdpaForward<float> sdpa_forward(const TensorF&, const TensorF&, const TensorF&, const AttentionMask&,
                                         const SdpaOptions&, AttentionBackend);
template SdpaForward<double> sdpa_forward(const TensorD&, const TensorD&, const TensorD&, const AttentionMask&,
                                          const SdpaOptions&, AttentionBackend);
template SdpaGrads<float> sdpa_backward(const TensorF&, const TensorF&, const TensorF&, const TensorF&,
                                        const SdpaForward<float>&, const AttentionMask&, const SdpaOptions&,
                                        AttentionBackend);
template SdpaGrads<double> sdpa_backward(const TensorD&, const TensorD&, const TensorD&, const TensorD&,
                                         const SdpaForward<double>&, const AttentionMask&, const SdpaOptions&,
                                         AttentionBackend);

}  // namespace qkv
