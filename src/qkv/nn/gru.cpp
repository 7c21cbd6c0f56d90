#include "qkv/nn/gru.h"

#include <algorithm>
#include <cmath>

#include "qkv/core/parallel.h"
#include "qkv/kernels/gemm.h"

namespace qkv::nn {
namespace {

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

int64_t row_grain(int64_t H) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(H, 1)); }

}  // namespace

template <typename T>
void gru_cell_forward(int64_t B, int64_t H, const T* gi, int64_t ld_gi, const T* h_prev, int64_t ld_hp,
                      const T* w_hh, const T* b_hh, T* gh, T* gates, int64_t ld_g, T* h, int64_t ld_h) {
  for (int64_t b = 0; b < B; ++b) std::copy(b_hh, b_hh + 3 * H, gh + b * 3 * H);
  kernels::gemm(false, true, B, 3 * H, H, T(1), h_prev, ld_hp, w_hh, H, T(1), gh, 3 * H);
  parallel_for(B, row_grain(H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* xi = gi + b * ld_gi;
      const T* hh = gh + b * 3 * H;
      const T* hp = h_prev + b * ld_hp;
      T* g = gates + b * ld_g;
      T* out = h + b * ld_h;
      for (int64_t j = 0; j < H; ++j) {
        T r = sigmoid(xi[j] + hh[j]);
        T z = sigmoid(xi[H + j] + hh[H + j]);
        T hn = hh[2 * H + j];
        T n = std::tanh(xi[2 * H + j] + r * hn);
        g[j] = r;
        g[H + j] = z;
        g[2 * H + j] = n;
        g[3 * H + j] = hn;
        out[j] = (T(1) - z) * n + z * hp[j];
      }
    }
  });
}

template <typename T>
void gru_cell_backward(int64_t B, int64_t H, const T* dh, int64_t ld_dh, const T* h_prev, int64_t ld_hp,
                       const T* gates, int64_t ld_g, const T* w_hh, T* dgi, int64_t ld_dgi, T* dgh,
                       int64_t ld_dgh, T* dh_prev, int64_t ld_dhp) {
  parallel_for(B, row_grain(H), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* d = dh + b * ld_dh;
      const T* hp = h_prev + b * ld_hp;
      const T* g = gates + b * ld_g;
      T* di = dgi + b * ld_dgi;
      T* dhh = dgh + b * ld_dgh;
      T* dp = dh_prev + b * ld_dhp;
      for (int64_t j = 0; j < H; ++j) {
        T r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
        T dn = d[j] * (T(1) - z);
        T dz = d[j] * (hp[j] - n);
        T dn_pre = dn * (T(1) - n * n);
        T dr = dn_pre * hn;
        T dz_pre = dz * z * (T(1) - z);
        T dr_pre = dr * r * (T(1) - r);
        di[j] = dr_pre;
        di[H + j] = dz_pre;
        di[2 * H + j] = dn_pre;
        dhh[j] = dr_pre;
        dhh[H + j] = dz_pre;
        dhh[2 * H + j] = dn_pre * r;
        dp[j] = d[j] * z;
      }
    }
  });
  kernels::gemm(false, false, B, H, 3 * H, T(1), dgh, ld_dgh, w_hh, H, T(1), dh_prev, ld_dhp);
}

template <typename T>
GRU<T>::GRU(int64_t input_size, int64_t hidden_size, Rng& rng)
    : weight_ih_l0({3 * hidden_size, input_size}),
      weight_hh_l0({3 * hidden_size, hidden_size}),
      bias_ih_l0({3 * hidden_size}, /*decay=*/false),
      bias_hh_l0({3 * hidden_size}, /*decay=*/false) {
  QKV_CHECK(input_size > 0 && hidden_size > 0, "GRU: input_size=", input_size, " and hidden_size=", hidden_size,
            " must both be positive");
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (Parameter<T>* p : {&weight_ih_l0, &weight_hh_l0, &bias_ih_l0, &bias_hh_l0})
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] = static_cast<T>(rng.uniform(-bound, bound));
}

template <typename T>
const Tensor<T>& GRU<T>::forward(const Tensor<T>& x, const Tensor<T>& h0) {
  const int64_t in = input_size(), H = hidden_size();
  check_rank("GRU.forward", "x", x, 3);
  QKV_CHECK(x.dim(2) == in, "GRU.forward: argument 'x' has shape ", shape_str(x.shape()), "; expected last dim ",
            in, " (input_size)");
  const int64_t B = x.dim(0), L = x.dim(1);
  QKV_CHECK(L >= 1, "GRU.forward: argument 'x' has shape ", shape_str(x.shape()), "; expected at least one step");
  if (h0.defined()) check_shape("GRU.forward", "h0", h0, {B, H});
  x_ = x.contiguous();
  ensure_shape(gi_, {B, L, 3 * H});
  ensure_shape(gates_, {B, L, 4 * H});
  ensure_shape(hprev_, {B, L, H});
  ensure_shape(out_, {B, L, H});
  ensure_shape(gh_, {B, 3 * H});
  // gi = x W_ihᵀ + b_ih for every step at once.
  T* gi = gi_.data();
  const T* bih = bias_ih_l0.value.data();
  for (int64_t r = 0; r < B * L; ++r) std::copy(bih, bih + 3 * H, gi + r * 3 * H);
  kernels::gemm(false, true, B * L, 3 * H, in, T(1), x_.data(), in, weight_ih_l0.value.data(), in, T(1), gi, 3 * H);
  // h_{-1} = h0 (or zeros) goes into hprev[:, 0].
  Tensor<T> hp0 = hprev_.select(1, 0);
  if (h0.defined()) {
    hp0.copy_from(h0);
  } else {
    hp0.fill(T(0));
  }
  const int64_t ldh = L * H;
  for (int64_t t = 0; t < L; ++t) {
    T* h_t = out_.data() + t * H;
    gru_cell_forward(B, H, gi + t * 3 * H, L * 3 * H, hprev_.data() + t * H, ldh, weight_hh_l0.value.data(),
                     bias_hh_l0.value.data(), gh_.data(), gates_.data() + t * 4 * H, L * 4 * H, h_t, ldh);
    if (t + 1 < L) {
      for (int64_t b = 0; b < B; ++b)
        std::copy(h_t + b * ldh, h_t + b * ldh + H, hprev_.data() + b * ldh + (t + 1) * H);
    }
  }
  return out_;
}

template <typename T>
const Tensor<T>& GRU<T>::backward(const Tensor<T>& dout) {
  QKV_CHECK(x_.defined(), "GRU.backward: called before forward");
  const int64_t in = input_size(), H = hidden_size();
  const int64_t B = x_.dim(0), L = x_.dim(1);
  check_shape("GRU.backward", "dout", dout, {B, L, H});
  Tensor<T> g = dout.contiguous();
  ensure_shape(dgi_, {B, L, 3 * H});
  ensure_shape(dgh_, {B, L, 3 * H});
  ensure_shape(dh_, {B, H});
  ensure_shape(dhp_, {B, H});
  ensure_shape(dx_, {B, L, in});
  ensure_shape(dh0_, {B, H});
  dh_.fill(T(0));  // gradient flowing into h_t from step t+1
  for (int64_t t = L; t-- > 0;) {
    // total gradient of h_t = dout[:, t] + carry
    for (int64_t b = 0; b < B; ++b) {
      const T* d = g.data() + b * L * H + t * H;
      T* c = dh_.data() + b * H;
      for (int64_t j = 0; j < H; ++j) c[j] += d[j];
    }
    gru_cell_backward(B, H, dh_.data(), H, hprev_.data() + t * H, L * H, gates_.data() + t * 4 * H, L * 4 * H,
                      weight_hh_l0.value.data(), dgi_.data() + t * 3 * H, L * 3 * H, dgh_.data() + t * 3 * H,
                      L * 3 * H, dhp_.data(), H);
    std::swap(dh_, dhp_);
  }
  dh0_.copy_from(dh_);
  // Parameter gradients over all steps at once.
  kernels::gemm(true, false, 3 * H, in, B * L, T(1), dgi_.data(), 3 * H, x_.data(), in, T(1),
                weight_ih_l0.grad.data(), in);
  kernels::gemm(true, false, 3 * H, H, B * L, T(1), dgh_.data(), 3 * H, hprev_.data(), H, T(1),
                weight_hh_l0.grad.data(), H);
  T* dbi = bias_ih_l0.grad.data();
  T* dbh = bias_hh_l0.grad.data();
  for (int64_t r = 0; r < B * L; ++r) {
    const T* a = dgi_.data() + r * 3 * H;
    const T* c = dgh_.data() + r * 3 * H;
    for (int64_t j = 0; j < 3 * H; ++j) {
      dbi[j] += a[j];
      dbh[j] += c[j];
    }
  }
  kernels::gemm(false, false, B * L, in, 3 * H, T(1), dgi_.data(), 3 * H, weight_ih_l0.value.data(), in, T(0),
                dx_.data(), in);
  return dx_;
}

template <typename T>
void GRU<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight_ih_l0", &weight_ih_l0);
  out.emplace_back(prefix + "weight_hh_l0", &weight_hh_l0);
  out.emplace_back(prefix + "bias_ih_l0", &bias_ih_l0);
  out.emplace_back(prefix + "bias_hh_l0", &bias_hh_l0);
}

#define QKV_GRU_INSTANTIATE(T)                                                                                    \
  template class GRU<T>;                                                                                          \
  template void gru_cell_forward<T>(int64_t, int64_t, const T*, int64_t, const T*, int64_t, const T*, const T*, T*, \
                                    T*, int64_t, T*, int64_t);                                                    \
  template void gru_cell_backward<T>(int64_t, int64_t, const T*, int64_t, const T*, int64_t, const T*, int64_t,   \
                                     const T*, T*, int64_t, T*, int64_t, T*, int64_t);
QKV_GRU_INSTANTIATE(float)
QKV_GRU_INSTANTIATE(double)
#undef QKV_GRU_INSTANTIATE

}  // namespace qkv::nn
