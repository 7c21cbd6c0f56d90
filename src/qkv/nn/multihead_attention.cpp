// nn.MultiheadAttention (batch_first): projections, head split, SDPA, concatenation, out_proj.
//
//   query (B, Lq, E), key (B, Lk, kdim), value (B, Lk, vdim); P = H·hd.
// forward:  self_attention(x):  qkv = x W_inᵀ + b_in (B·Lq, 3P),
//           one GEMM; forward(query, key, value): q = query W_qᵀ + b_q (B·Lq, P), k (B·Lk, P), v (B·Lk, P).
//           heads are (B, H, L, hd) strided views of those rows (no copy); Z = SDPA(q, k, v, mask),
//           its arguments validated once here;
//           concat (B, Lq, P); out = out_proj(concat) (B, Lq, E).
// saves:    views of the inputs, q, k, v, the SDPA forward (Z, lse, weights), concat (in out_proj).
// backward: dconcat = out_proj.backward(dout); dZ = its head view; (dq, dk, dv) = SDPA backward;
//           merge the heads back to (B·L, P) and run the projections' backward.
#include "qkv/nn/multihead_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "qkv/core/parallel.h"
#include "qkv/kernels/add_inplace.h"
#include "qkv/kernels/gemm.h"

namespace qkv::nn {

namespace {

// Rows (B·L, n·H·hd) seen as the heads of part `part`: a (B, H, L, hd) view, no copy.
template <typename T>
Tensor<T> heads_of(const Tensor<T>& rows, int64_t B, int64_t L, int64_t n, int64_t part, int64_t H, int64_t hd) {
  return rows.view({B, L, n, H, hd}).select(2, part).transpose(1, 2);
}

// src (B, H, L, hd) (any strides) → dst rows (B·L) of leading dim ld, columns [col, col + H·hd).
template <typename T>
void merge_heads(const Tensor<T>& src, T* dst, int64_t ld, int64_t col) {
  const int64_t B = src.dim(0), H = src.dim(1), L = src.dim(2), hd = src.dim(3);
  const int64_t sb = src.stride(0), sh = src.stride(1), sl = src.stride(2), sd = src.stride(3);
  const T* base = src.data();
  // Memory-bound: a thread only pays off for at least ~64K elements.
  parallel_for(B * L, std::max<int64_t>(64, 65536 / std::max<int64_t>(1, H * hd)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / L, l = r % L;
      T* d = dst + r * ld + col;
      for (int64_t h = 0; h < H; ++h) {
        const T* p = base + b * sb + h * sh + l * sl;
        if (sd == 1) {
          std::memcpy(d + h * hd, p, sizeof(T) * hd);
        } else {
          for (int64_t c = 0; c < hd; ++c) d[h * hd + c] = p[c * sd];
        }
      }
    }
  });
}

template <typename T>
void xavier_uniform(Tensor<T>& w, Rng& rng) {
  double bound = std::sqrt(6.0 / static_cast<double>(w.dim(0) + w.dim(1)));
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<T>(rng.uniform(-bound, bound));
}

template <typename T>
Tensor<T> rows_of(const Tensor<T>& x) {
  Tensor<T> c = x.contiguous();
  return c.view({c.dim(0) * c.dim(1), c.dim(2)});
}

}  // namespace

template <typename T>
struct MultiheadAttention<T>::State {
  bool self_attention = false;
  bool sum_input_grads = false;      // self_attention() through separate projections (grouped K/V):
                                     // backward returns dquery = the three input gradients summed
  int64_t B = 0, Lq = 0, Lk = 0;
  Tensor<T> xq, xk, xv;              // saved inputs as rows (B·L, width)
  Tensor<T> qkv;                     // (B·Lq, 3P) fused projection
  Tensor<T> pq, pk, pv;              // (B·L, P) separate projections
  Tensor<T> q, k, v;                 // (B, H, L, hd) views of qkv or pq, pk, pv
  SdpaForward<T> fwd;                // Z (B, H, Lq, hd), lse, weights (storage reused across calls)
  Tensor<T> concat;                  // (B, Lq, P)
  Tensor<T> avg_weights;             // (B, Lq, Lk)
  AttentionMask mask;
  TensorB allowed;                   // MHA masks converted to "may attend"
  TensorF bias;                      // additive masks summed
  SdpaOptions sdpa;
  Tensor<T> dqkv, dpq, dpk, dpv;     // gradients of the projections' outputs
  Tensor<T> dxq, dxk, dxv;           // input gradients (rows)
  SdpaGrads<T> grads;                // dq, dk, dv (B, H, L, hd) (storage reused across calls)
};

template <typename T>
MultiheadAttention<T>::MultiheadAttention(const MhaOptions& options, Rng& rng)
    : options_(options), state_(std::make_shared<State>()) {
  const int64_t E = options.embed_dim, H = options.num_heads;
  QKV_CHECK(E > 0, "MultiheadAttention: embed_dim must be positive, got ", E);
  QKV_CHECK(H > 0, "MultiheadAttention: num_heads must be positive, got ", H);
  QKV_CHECK(options.head_dim >= 0,
            "MultiheadAttention: head_dim must be positive (or 0 for embed_dim / num_heads), got ", options.head_dim);
  QKV_CHECK(options.kdim >= 0 && options.vdim >= 0,
            "MultiheadAttention: kdim and vdim must be positive (or 0 for embed_dim), got kdim=", options.kdim,
            " vdim=", options.vdim);
  QKV_CHECK(options.dropout >= 0.0 && options.dropout < 1.0, "MultiheadAttention: dropout must be in [0, 1), got ",
            options.dropout);
  if (options.head_dim == 0)
    QKV_CHECK(E % H == 0, "MultiheadAttention: embed_dim (", E, ") must be divisible by num_heads (", H, ")");
  QKV_CHECK(options.num_kv_heads >= 0 && (options.num_kv_heads == 0 || H % options.num_kv_heads == 0),
            "MultiheadAttention: num_kv_heads is ", options.num_kv_heads, "; expected 0 (num_heads) or a divisor of ",
            "num_heads (", H, ")");
  head_dim_ = options.head_dim ? options.head_dim : E / H;
  if (options_.kdim == 0) options_.kdim = E;
  if (options_.vdim == 0) options_.vdim = E;
  if (options_.num_kv_heads == 0) options_.num_kv_heads = H;
  const int64_t P = H * head_dim_, Pkv = options_.num_kv_heads * head_dim_;
  if (options_.kdim == E && options_.vdim == E && Pkv == P) {
    in_proj_weight = Parameter<T>({3 * P, E});
    xavier_uniform(in_proj_weight.value, rng);
  } else {
    q_proj_weight = Parameter<T>({P, E});
    k_proj_weight = Parameter<T>({Pkv, options_.kdim});
    v_proj_weight = Parameter<T>({Pkv, options_.vdim});
    xavier_uniform(q_proj_weight.value, rng);
    xavier_uniform(k_proj_weight.value, rng);
    xavier_uniform(v_proj_weight.value, rng);
  }
  if (options.bias) in_proj_bias = Parameter<T>({P + 2 * Pkv}, /*decay=*/false);
  out_proj = Linear<T>(P, E, options.bias, rng);
  if (options.bias) out_proj.bias.value.fill(T(0));
}

template <typename T>
void MultiheadAttention<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  if (in_proj_weight.value.defined()) {
    out.emplace_back(prefix + "in_proj_weight", &in_proj_weight);
  } else {
    out.emplace_back(prefix + "q_proj_weight", &q_proj_weight);
    out.emplace_back(prefix + "k_proj_weight", &k_proj_weight);
    out.emplace_back(prefix + "v_proj_weight", &v_proj_weight);
  }
  if (in_proj_bias.value.defined()) out.emplace_back(prefix + "in_proj_bias", &in_proj_bias);
  out_proj.collect_parameters(prefix + "out_proj.", out);
}

template <typename T>
const Tensor<T>& MultiheadAttention<T>::head_outputs() const {
  QKV_CHECK(state_ && state_->fwd.out.defined(), "MultiheadAttention.head_outputs: called before forward");
  return state_->fwd.out;
}

template <typename T>
const Tensor<T>& MultiheadAttention<T>::concatenated() const {
  QKV_CHECK(state_ && state_->concat.defined(), "MultiheadAttention.concatenated: called before forward");
  return state_->concat;
}

template <typename T>
bool MultiheadAttention<T>::last_was_self_attention() const {
  return state_ && state_->self_attention;
}

namespace {

// Converts nn.MultiheadAttention's masks (bool True = do not attend, floats added) into an
// AttentionMask over (B, H, Lq, Lk), reusing the `allowed` and `bias` buffers.
void build_mask(const MhaCall& call, int64_t B, int64_t H, int64_t Lq, int64_t Lk, TensorB& allowed, TensorF& bias,
                AttentionMask& mask) {
  const char* where = "MultiheadAttention.forward";
  QKV_CHECK(!(call.key_padding_mask.defined() && call.key_padding_bias.defined()), where,
            ": give 'key_padding_mask' as bool or as float, not both");
  QKV_CHECK(!(call.attn_mask.defined() && call.attn_bias.defined()), where,
            ": give 'attn_mask' as bool or as float, not both");
  auto check_attn = [&](const char* arg, const Shape& s) {
    bool ok = (s.size() == 2 && s[0] == Lq && s[1] == Lk) ||
              (s.size() == 3 && s[0] == B * H && s[1] == Lq && s[2] == Lk);
    QKV_CHECK(ok, where, ": argument '", arg, "' has shape ", shape_str(s), "; expected (", Lq, ", ", Lk, ") or (",
              B * H, ", ", Lq, ", ", Lk, ") (Lq, Lk) or (B·num_heads, Lq, Lk)");
  };
  if (call.key_padding_mask.defined()) check_shape(where, "key_padding_mask", call.key_padding_mask, {B, Lk});
  if (call.key_padding_bias.defined()) check_shape(where, "key_padding_mask", call.key_padding_bias, {B, Lk});
  if (call.attn_mask.defined()) check_attn("attn_mask", call.attn_mask.shape());
  if (call.attn_bias.defined()) check_attn("attn_mask", call.attn_bias.shape());

  mask = AttentionMask{};
  mask.causal = call.is_causal ? Causal::top_left : Causal::none;

  // attn part viewed as (1, 1, Lq, Lk) or (B, H, Lq, Lk); padding part as (B, 1, 1, Lk).
  auto attn_shape = [&](const Shape& s) { return s.size() == 2 ? Shape{1, 1, Lq, Lk} : Shape{B, H, Lq, Lk}; };

  const TensorB& kpm = call.key_padding_mask;
  const TensorB& am = call.attn_mask;
  if (kpm.defined() || am.defined()) {
    Shape shape = am.defined() ? attn_shape(am.shape()) : Shape{B, 1, 1, Lk};
    if (kpm.defined()) shape[0] = B;
    ensure_shape(allowed, shape);
    const int64_t Hm = shape[1], Lm = shape[2];
    TensorB kc = kpm.defined() ? kpm.contiguous() : TensorB();
    TensorB ac = am.defined() ? am.contiguous() : TensorB();
    const uint8_t* a = ac.defined() ? ac.data() : nullptr;
    const uint8_t* kp = kc.defined() ? kc.data() : nullptr;
    const int64_t a_sb = ac.defined() && ac.rank() == 3 ? H * Lq * Lk : 0, a_sh = a_sb ? Lq * Lk : 0;
    uint8_t* out = allowed.data();
    for (int64_t b = 0; b < shape[0]; ++b)
      for (int64_t h = 0; h < Hm; ++h) {
        const uint8_t* ah = a ? a + b * a_sb + h * a_sh : nullptr;
        const uint8_t* kb = kp ? kp + b * Lk : nullptr;
        uint8_t* o = out + (b * Hm + h) * Lm * Lk;
        for (int64_t i = 0; i < Lm; ++i)
          for (int64_t j = 0; j < Lk; ++j)
            o[i * Lk + j] = !((ah && ah[i * Lk + j]) || (kb && kb[j]));
      }
    mask.allowed = allowed;
  }

  const TensorF& kpb = call.key_padding_bias;
  const TensorF& ab = call.attn_bias;
  if (kpb.defined() || ab.defined()) {
    if (kpb.defined() && !ab.defined()) {
      mask.bias = kpb.contiguous().view({B, 1, 1, Lk});
    } else if (!kpb.defined()) {
      mask.bias = ab.contiguous().view(attn_shape(ab.shape()));
    } else {
      Shape shape = attn_shape(ab.shape());
      shape[0] = B;
      ensure_shape(bias, shape);
      TensorF ac = ab.contiguous(), kc = kpb.contiguous();
      const int64_t a_sb = ac.rank() == 3 ? H * Lq * Lk : 0, a_sh = a_sb ? Lq * Lk : 0;
      float* out = bias.data();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < shape[1]; ++h) {
          const float* ah = ac.data() + b * a_sb + h * a_sh;
          const float* kb = kc.data() + b * Lk;
          float* o = out + (b * shape[1] + h) * Lq * Lk;
          for (int64_t i = 0; i < Lq; ++i)
            for (int64_t j = 0; j < Lk; ++j) o[i * Lk + j] = ah[i * Lk + j] + kb[j];
        }
      mask.bias = bias;
    }
  }
}

}  // namespace

template <typename T>
const Tensor<T>& MultiheadAttention<T>::forward(const Tensor<T>& query, const Tensor<T>& key,
                                                const Tensor<T>& value, const MhaCall& call) {
  return attend(query, key, value, call, false);
}

template <typename T>
const Tensor<T>& MultiheadAttention<T>::self_attention(const Tensor<T>& x, const MhaCall& call) {
  if (!in_proj_weight.value.defined()) {
    const Tensor<T>& y = forward(x, x, x, call);
    state_->sum_input_grads = true;
    return y;
  }
  return attend(x, x, x, call, true);
}

template <typename T>
const Tensor<T>& MultiheadAttention<T>::attend(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                                               const MhaCall& call, bool self) {
  const char* where = "MultiheadAttention.forward";
  QKV_CHECK(state_, where, ": module was default-constructed; construct it with MhaOptions");
  State& s = *state_;
  const int64_t E = options_.embed_dim, H = options_.num_heads, hd = head_dim_, P = H * hd;
  const int64_t Hkv = options_.num_kv_heads, Pkv = Hkv * hd;
  check_shape(where, "query", query, {-1, -1, E});
  check_shape(where, "key", key, {query.dim(0), -1, options_.kdim});
  check_shape(where, "value", value, {query.dim(0), key.dim(1), options_.vdim});
  const int64_t B = query.dim(0), Lq = query.dim(1), Lk = key.dim(1);
  QKV_CHECK(B > 0 && Lq > 0 && Lk > 0, where, ": batch and sequence lengths must be positive; query has shape ",
            shape_str(query.shape()), " and key ", shape_str(key.shape()));
  s.B = B;
  s.Lq = Lq;
  s.Lk = Lk;
  s.self_attention = self;
  s.sum_input_grads = false;

  build_mask(call, B, H, Lq, Lk, s.allowed, s.bias, s.mask);
  s.sdpa = SdpaOptions{};
  s.sdpa.dropout_p = call.training ? options_.dropout : 0.0;
  s.sdpa.dropout_seed = call.dropout_seed;
  s.sdpa.need_weights = call.need_weights;
  s.sdpa.enable_gqa = Hkv != H;
  validate_sdpa_args(where, {B, H, Lq, hd}, {B, Hkv, Lk, hd}, {B, Hkv, Lk, hd}, s.mask, s.sdpa);

  const T* b_in = in_proj_bias.value.defined() ? in_proj_bias.value.data() : nullptr;
  if (s.self_attention) {
    s.xq = rows_of(query);
    s.xk = s.xv = Tensor<T>();
    ensure_shape(s.qkv, {B * Lq, 3 * P});
    linear_forward(s.xq.data(), in_proj_weight.value.data(), b_in, s.qkv.data(), B * Lq, E, 3 * P);
    s.q = heads_of(s.qkv, B, Lq, 3, 0, H, hd);
    s.k = heads_of(s.qkv, B, Lq, 3, 1, H, hd);
    s.v = heads_of(s.qkv, B, Lq, 3, 2, H, hd);
  } else {
    const bool packed = in_proj_weight.value.defined();
    const T* wq = packed ? in_proj_weight.value.data() : q_proj_weight.value.data();
    const T* wk = packed ? in_proj_weight.value.data() + P * E : k_proj_weight.value.data();
    const T* wv = packed ? in_proj_weight.value.data() + 2 * P * E : v_proj_weight.value.data();
    s.xq = rows_of(query);
    s.xk = rows_of(key);
    s.xv = rows_of(value);
    ensure_shape(s.pq, {B * Lq, P});
    ensure_shape(s.pk, {B * Lk, Pkv});
    ensure_shape(s.pv, {B * Lk, Pkv});
    linear_forward(s.xq.data(), wq, b_in, s.pq.data(), B * Lq, E, P);
    linear_forward(s.xk.data(), wk, b_in ? b_in + P : nullptr, s.pk.data(), B * Lk, options_.kdim, Pkv);
    linear_forward(s.xv.data(), wv, b_in ? b_in + P + Pkv : nullptr, s.pv.data(), B * Lk, options_.vdim, Pkv);
    s.q = heads_of(s.pq, B, Lq, 1, 0, H, hd);
    s.k = heads_of(s.pk, B, Lk, 1, 0, Hkv, hd);
    s.v = heads_of(s.pv, B, Lk, 1, 0, Hkv, hd);
  }

  sdpa_forward_into_validated<T>(s.q, s.k, s.v, s.mask, s.sdpa, s.fwd, options_.backend);

  ensure_shape(s.concat, {B, Lq, P});
  merge_heads(s.fwd.out, s.concat.data(), P, 0);

  weights_ = Tensor<T>();
  if (call.need_weights) {
    if (call.average_attn_weights) {
      ensure_shape(s.avg_weights, {B, Lq, Lk});
      const T* w = s.fwd.weights.data();
      T* a = s.avg_weights.data();
      const T inv = T(1) / static_cast<T>(H);
      for (int64_t b = 0; b < B; ++b) {
        T* ab = a + b * Lq * Lk;
        std::fill(ab, ab + Lq * Lk, T(0));
        for (int64_t h = 0; h < H; ++h) {
          const T* wh = w + (b * H + h) * Lq * Lk;
          for (int64_t n = 0; n < Lq * Lk; ++n) ab[n] += wh[n];
        }
        for (int64_t n = 0; n < Lq * Lk; ++n) ab[n] *= inv;
      }
      weights_ = s.avg_weights;
    } else {
      weights_ = s.fwd.weights;
    }
  }
  return out_proj.forward(s.concat);
}

template <typename T>
MhaGrads<T> MultiheadAttention<T>::backward(const Tensor<T>& dout) {
  const char* where = "MultiheadAttention.backward";
  QKV_CHECK(state_ && state_->fwd.out.defined(), where, ": called before forward");
  State& s = *state_;
  const int64_t E = options_.embed_dim, H = options_.num_heads, hd = head_dim_, P = H * hd;
  const int64_t Pkv = options_.num_kv_heads * hd;
  const int64_t B = s.B, Lq = s.Lq, Lk = s.Lk;
  check_shape(where, "dout", dout, {B, Lq, E});

  const Tensor<T>& dconcat = out_proj.backward(dout);  // (B, Lq, P), contiguous
  const Tensor<T> dz = heads_of(dconcat.view({B * Lq, P}), B, Lq, 1, 0, H, hd);
  sdpa_backward_into_validated<T>(dz, s.q, s.k, s.v, s.fwd, s.mask, s.sdpa, s.grads, options_.backend);
  const SdpaGrads<T>& g = s.grads;

  T* db_in = in_proj_bias.value.defined() ? in_proj_bias.grad.data() : nullptr;
  MhaGrads<T> out;
  if (s.self_attention) {
    ensure_shape(s.dqkv, {B * Lq, 3 * P});
    merge_heads(g.dq, s.dqkv.data(), 3 * P, 0);
    merge_heads(g.dk, s.dqkv.data(), 3 * P, P);
    merge_heads(g.dv, s.dqkv.data(), 3 * P, 2 * P);
    ensure_shape(s.dxq, {B * Lq, E});
    linear_backward(s.dqkv.data(), s.xq.data(), in_proj_weight.value.data(), s.dxq.data(), in_proj_weight.grad.data(),
                    db_in, B * Lq, E, 3 * P);
    out.dquery = s.dxq.view({B, Lq, E});
    return out;
  }
  const bool packed = in_proj_weight.value.defined();
  Parameter<T>& pw_q = packed ? in_proj_weight : q_proj_weight;
  Parameter<T>& pw_k = packed ? in_proj_weight : k_proj_weight;
  Parameter<T>& pw_v = packed ? in_proj_weight : v_proj_weight;
  const int64_t off_k = packed ? P * E : 0, off_v = packed ? 2 * P * E : 0;
  const int64_t kdim = options_.kdim, vdim = options_.vdim;
  ensure_shape(s.dpq, {B * Lq, P});
  ensure_shape(s.dpk, {B * Lk, Pkv});
  ensure_shape(s.dpv, {B * Lk, Pkv});
  merge_heads(g.dq, s.dpq.data(), P, 0);
  merge_heads(g.dk, s.dpk.data(), Pkv, 0);
  merge_heads(g.dv, s.dpv.data(), Pkv, 0);
  ensure_shape(s.dxq, {B * Lq, E});
  ensure_shape(s.dxk, {B * Lk, kdim});
  ensure_shape(s.dxv, {B * Lk, vdim});
  linear_backward(s.dpq.data(), s.xq.data(), pw_q.value.data(), s.dxq.data(), pw_q.grad.data(), db_in, B * Lq, E, P);
  linear_backward(s.dpk.data(), s.xk.data(), pw_k.value.data() + off_k, s.dxk.data(), pw_k.grad.data() + off_k,
                  db_in ? db_in + P : nullptr, B * Lk, kdim, Pkv);
  linear_backward(s.dpv.data(), s.xv.data(), pw_v.value.data() + off_v, s.dxv.data(), pw_v.grad.data() + off_v,
                  db_in ? db_in + P + Pkv : nullptr, B * Lk, vdim, Pkv);
  out.dquery = s.dxq.view({B, Lq, E});
  if (s.sum_input_grads) {  // x was query, key and value at once (Lk = Lq, kdim = vdim = E)
    kernels::add_inplace(s.dxq.data(), s.dxk.data(), B * Lq * E);
    kernels::add_inplace(s.dxq.data(), s.dxv.data(), B * Lq * E);
    return out;
  }
  out.dkey = s.dxk.view({B, Lk, kdim});
  out.dvalue = s.dxv.view({B, Lk, vdim});
  return out;
}

template class MultiheadAttention<float>;
template class MultiheadAttention<double>;

}  // namespace qkv::nn
