// Multi-head attention with the options and state_dict of PyTorch's nn.MultiheadAttention
// (batch_first layout).
//
//   query (B, Lq, E)   key (B, Lk, kdim)   value (B, Lk, vdim)   out (B, Lq, E)
//   weights (B, Lq, Lk) averaged over heads, or (B, H, Lq, Lk) with average_attn_weights=false
// Parameters (PyTorch names):
//   kdim == vdim == E: in_proj_weight (3·H·hd, E), in_proj_bias (3·H·hd,)
//   otherwise:         q_proj_weight (H·hd, E), k_proj_weight (H·hd, kdim), v_proj_weight (H·hd, vdim),
//                      in_proj_bias (3·H·hd,)
//   num_kv_heads Hkv < H (not in PyTorch): q_proj_weight (H·hd, E), k_proj_weight (Hkv·hd, kdim),
//                      v_proj_weight (Hkv·hd, vdim), in_proj_bias ((H + 2·Hkv)·hd,)
//   out_proj.weight (E, H·hd), out_proj.bias (E,)
// head_dim hd defaults to E / H (PyTorch); another value gives the textbook form in which every
// head projects E to hd of its own choosing (e.g. E=4, 8 heads of width 3, W_O of 24×4).
// Heads are split as (B, L, H, hd) → (B, H, L, hd) and concatenated back before W_O.
// Masks use nn.MultiheadAttention's polarity: a boolean True means "do not attend"; float masks
// are added. A query whose keys are all masked gets zero output and zero gradient.
// forward() saves views of its inputs (keep them alive and unchanged until backward), the
// projected q, k, v (B, H, L, hd), the per-head attention output Z (B, H, Lq, hd), their
// concatenation (B, Lq, H·hd) and the SDPA log-sum-exp; backward(dout) accumulates every
// parameter gradient (+=) and returns the input gradients, named after the inputs: dquery,
// dkey, dvalue. Self-attention is asked for explicitly with self_attention(x): one fused QKV
// projection, and dquery holds the whole gradient of x (dkey, dvalue undefined). forward(query,
// key, value) always projects the three separately, even when they are the same tensor (then the
// gradient of that tensor is dquery + dkey + dvalue). Returned tensors are the module's buffers,
// valid until the next call; steady-state calls of the same shapes allocate nothing in the module.
// Attention runs through qkv::sdpa_forward_into/sdpa_backward_into with options.backend (sdpa.h:
// automatic is the fused kernel for float, the reference for double); the SDPA arguments are
// validated once per call. need_weights returns the pre-dropout weights.
#pragma once

#include <cstdint>
#include <memory>

#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/nn/linear.h"

namespace qkv::nn {

struct MhaOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 1;
  bool bias = true;
  int64_t kdim = 0;      // 0: embed_dim
  int64_t vdim = 0;      // 0: embed_dim
  int64_t head_dim = 0;  // 0: embed_dim / num_heads
  double dropout = 0.0;  // on the attention weights, in training only
  AttentionBackend backend = AttentionBackend::automatic;
  // Key/value heads (grouped-query attention): 0 = num_heads, the PyTorch module and state_dict.
  // Fewer (a divisor of num_heads) projects key and value to num_kv_heads·hd only, always through
  // separate q/k/v_proj_weight, and query head h attends with key/value head h / (num_heads /
  // num_kv_heads) (sdpa.h's enable_gqa).
  int64_t num_kv_heads = 0;
};

struct MhaCall {
  TensorB key_padding_mask;      // (B, Lk), 1 = padding (ignored); or
  TensorF key_padding_bias;      // (B, Lk), added to the scores
  TensorB attn_mask;             // (Lq, Lk) or (B·H, Lq, Lk), 1 = do not attend; or
  TensorF attn_bias;             // (Lq, Lk) or (B·H, Lq, Lk), added to the scores
  bool is_causal = false;        // top-left causal mask
  bool need_weights = false;
  bool average_attn_weights = true;
  bool training = false;         // dropout only when training
  uint64_t dropout_seed = 0;
};

template <typename T>
struct MhaGrads {
  Tensor<T> dquery, dkey, dvalue;  // dkey/dvalue undefined for self-attention
};

template <typename T>
class MultiheadAttention : public Module<T> {
 public:
  MultiheadAttention() = default;
  MultiheadAttention(const MhaOptions& options, Rng& rng);

  // Attention of query (B, Lq, E) over key (B, Lk, kdim) and value (B, Lk, vdim).
  const Tensor<T>& forward(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value,
                           const MhaCall& call = {});
  // Self-attention of x (B, L, E): query = key = value = x through one fused QKV projection.
  // Needs kdim == vdim == embed_dim; otherwise it is forward(x, x, x), which names the mismatch.
  const Tensor<T>& self_attention(const Tensor<T>& x, const MhaCall& call = {});
  const Tensor<T>& weights() const { return weights_; }  // after forward with need_weights
  MhaGrads<T> backward(const Tensor<T>& dout);

  // Saved intermediates of the last forward (for tests, heatmaps and the textbook example).
  const Tensor<T>& head_outputs() const;  // Z per head, (B, H, Lq, hd)
  const Tensor<T>& concatenated() const;  // (B, Lq, H·hd), the input of out_proj
  int64_t head_dim() const { return head_dim_; }
  bool last_was_self_attention() const;  // the last forward was self_attention(x)

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;
  const MhaOptions& options() const { return options_; }

  // Public so the library, the Python module and PyTorch-format files can reach them by name.
  Parameter<T> in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  Linear<T> out_proj;

 private:
  const Tensor<T>& attend(const Tensor<T>& query, const Tensor<T>& key, const Tensor<T>& value, const MhaCall& call,
                          bool self);

  MhaOptions options_;
  int64_t head_dim_ = 0;
  Tensor<T> weights_;
  // The implementation keeps its saved tensors and reusable buffers here.
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace qkv::nn
