#include "qkv/nn/transformer_kv_cache.h"

#include <algorithm>
#include <cstring>

#include "qkv/nn/residual.h"

namespace qkv::nn {

TransformerKvCache::TransformerKvCache(TransformerDecoder<float>& decoder, const TensorF& memory,
                                       const TensorI& memory_lens, int64_t max_steps)
    : decoder_(decoder), max_steps_(max_steps) {
  const char* where = "TransformerKvCache";
  QKV_CHECK(!decoder.layers.empty(), where, ": the decoder has no layers");
  const MultiheadAttention<float>& a0 = decoder.layers[0]->self_attn;
  E_ = a0.options().embed_dim;
  H_ = a0.options().num_heads;
  hd_ = a0.head_dim();
  check_shape(where, "memory", memory, {-1, -1, E_});
  B_ = memory.dim(0);
  S_ = memory.dim(1);
  QKV_CHECK(max_steps > 0, where, ": argument 'max_steps' must be positive, got ", max_steps);
  if (memory_lens.defined()) {
    check_shape(where, "memory_lens", memory_lens, {B_});
    for (int64_t b = 0; b < B_; ++b)
      QKV_CHECK(memory_lens[b] >= 1 && memory_lens[b] <= S_, where, ": memory_lens[", b, "] is ", memory_lens[b],
                "; expected 1..", S_);
    memory_lens_ = memory_lens.contiguous();
  }
  const TensorF m = memory.contiguous();
  for (auto& layer : decoder.layers) {
    const MultiheadAttention<float>& ca = layer->multihead_attn;
    const float* W = ca.in_proj_weight.value.data();
    const float* b = ca.in_proj_bias.value.data();
    Layer c;
    c.mem_k = TensorF({B_ * S_, E_});
    c.mem_v = TensorF({B_ * S_, E_});
    linear_forward(m.data(), W + E_ * E_, b ? b + E_ : nullptr, c.mem_k.data(), B_ * S_, E_, E_);
    linear_forward(m.data(), W + 2 * E_ * E_, b ? b + 2 * E_ : nullptr, c.mem_v.data(), B_ * S_, E_, E_);
    layers_.push_back(std::move(c));
  }
  resize_self_caches(std::min<int64_t>(max_steps, 16));
}

void TransformerKvCache::resize_self_caches(int64_t cap) {
  for (Layer& c : layers_)
    for (TensorF* kv : {&c.k, &c.v}) {
      TensorF next({B_, H_, cap, hd_});
      for (int64_t r = 0; r < B_ * H_ && t_ > 0; ++r)
        std::memcpy(next.data() + r * cap * hd_, kv->data() + r * cap_ * hd_, sizeof(float) * static_cast<size_t>(t_ * hd_));
      *kv = next;
    }
  cap_ = cap;
}

// One attention block on the new token x (B, 1, E): self-attention appends its key and value to
// the cache and attends to positions 0..t; cross-attention attends to the cached memory.
const TensorF& TransformerKvCache::attend(MultiheadAttention<float>& attn, const TensorF& x, Layer& cache, bool self) {
  const float* W = attn.in_proj_weight.value.data();
  const float* b = attn.in_proj_bias.value.defined() ? attn.in_proj_bias.value.data() : nullptr;
  const int64_t B = B_, E = E_, H = H_, hd = hd_, t = t_;
  AttentionMask mask;
  TensorF q, K, V;
  if (self) {
    TensorF& proj = ensure_shape(self_proj_, {B, 3 * E});
    linear_forward(x.data(), W, b, proj.data(), B, E, 3 * E);
    for (int64_t r = 0; r < B; ++r)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t at = ((r * H + h) * cap_ + t) * hd;
        std::memcpy(cache.k.data() + at, proj.data() + r * 3 * E + E + h * hd, sizeof(float) * hd);
        std::memcpy(cache.v.data() + at, proj.data() + r * 3 * E + 2 * E + h * hd, sizeof(float) * hd);
      }
    q = proj.view({B, 1, 3, H, hd}).select(2, 0).transpose(1, 2);
    K = cache.k.slice(2, 0, t + 1);
    V = cache.v.slice(2, 0, t + 1);
  } else {
    TensorF& proj = ensure_shape(cross_proj_, {B, E});
    linear_forward(x.data(), W, b, proj.data(), B, E, E);
    q = proj.view({B, 1, H, hd}).transpose(1, 2);
    K = cache.mem_k.view({B, S_, H, hd}).transpose(1, 2);
    V = cache.mem_v.view({B, S_, H, hd}).transpose(1, 2);
    mask.valid_lens = memory_lens_;
  }
  sdpa_forward_into(q, K, V, mask, SdpaOptions{}, fwd_);
  ensure_shape(heads_, {B, 1, E});
  heads_.view({B, 1, H, hd}).transpose(1, 2).copy_from(fwd_.out);
  ensure_shape(attn_out_, {B, 1, E});
  const Linear<float>& o = attn.out_proj;
  linear_forward(heads_.data(), o.weight.value.data(), o.has_bias() ? o.bias.value.data() : nullptr,
                 attn_out_.data(), B, E, E);
  return attn_out_;
}

const TensorF& TransformerKvCache::step(const TensorF& x_in) {
  check_shape("TransformerKvCache.step", "x", x_in, {B_, 1, E_});
  QKV_CHECK(t_ < max_steps_, "TransformerKvCache.step: the cache holds ", max_steps_, " steps; all are used");
  if (t_ == cap_) resize_self_caches(std::min(max_steps_, 2 * cap_));
  const TensorF* x = &x_in;
  TensorF xc = x_in.contiguous();
  x = &xc;
  for (size_t l = 0; l < layers_.size(); ++l) {
    TransformerDecoderLayer<float>& L = *decoder_.layers[l];
    Layer& c = layers_[l];
    if (L.norm_first()) {
      add_into(sum1_, *x, attend(L.self_attn, L.norm1.forward(*x), c, true));
      add_into(sum2_, sum1_, attend(L.multihead_attn, L.norm2.forward(sum1_), c, false));
      x = &add_into(out_, sum2_, L.ff.forward(L.norm3.forward(sum2_), false, 0));
    } else {
      const TensorF& x1 = L.norm1.forward(add_into(sum1_, *x, attend(L.self_attn, *x, c, true)));
      const TensorF& x2 = L.norm2.forward(add_into(sum2_, x1, attend(L.multihead_attn, x1, c, false)));
      x = &L.norm3.forward(add_into(out_, x2, L.ff.forward(x2, false, 0)));
    }
  }
  ++t_;
  return decoder_.norm.forward(*x);
}

void TransformerKvCache::reorder(const std::vector<int64_t>& parents) {
  QKV_CHECK(static_cast<int64_t>(parents.size()) == B_, "TransformerKvCache.reorder: ", parents.size(),
            " parents given; expected ", B_);
  for (int64_t p : parents)
    QKV_CHECK(p >= 0 && p < B_, "TransformerKvCache.reorder: parent ", p, " is out of [0, ", B_, ")");
  const int64_t block = H_ * cap_ * hd_;
  for (Layer& c : layers_)
    for (TensorF* kv : {&c.k, &c.v}) {
      TensorF next({B_, H_, cap_, hd_});
      for (int64_t r = 0; r < B_; ++r)
        for (int64_t h = 0; h < H_; ++h)
          std::memcpy(next.data() + r * block + h * cap_ * hd_,
                      kv->data() + parents[static_cast<size_t>(r)] * block + h * cap_ * hd_,
                      sizeof(float) * static_cast<size_t>(t_ * hd_));
      *kv = next;
    }
}

}  // namespace qkv::nn
