// Incremental decoding of a TransformerDecoder with a key/value cache (inference, no backward).
//
// Glossary: B rows (words × beams), S memory length, t steps decoded so far, E = d_model,
// H heads, hd = E / H, max_steps the most steps the cache takes, cap its current capacity
// (16 steps at first, doubled when full, at most max_steps: short outputs touch little memory).
// Per decoder layer the cache holds
//   self-attention K, V (B, H, cap, hd): step t appends the new token's key and value at
//     position t, and its query attends to positions 0..t (causal by construction);
//   cross-attention K, V of the memory (B, H, S, hd): projected once, at start().
// step(x_t) runs every layer on the new token alone, x_t (B, 1, E) (its embedding and position
// encoding) → (B, 1, E) after the decoder's final norm; the result equals row t of the full
// decoder forward on tokens 0..t with the causal mask (tested), at O(t) instead of O(t²) per step.
// Memory padding: memory_lens (B,) — keys at positions >= memory_lens[b] are ignored, as
// memory_key_padding_mask does in the full forward. reorder(parents) keeps row parents[i] in row
// i (beam search), for the self-attention caches; the memory caches of the rows of one source are
// equal, so the caller only reorders within a source.
#pragma once

#include <vector>

#include "qkv/nn/transformer.h"

namespace qkv::nn {

class TransformerKvCache {
 public:
  // memory (B, S, E): the encoder output; memory_lens (B,) in [1, S] or undefined (no padding).
  TransformerKvCache(TransformerDecoder<float>& decoder, const TensorF& memory, const TensorI& memory_lens,
                     int64_t max_steps);

  const TensorF& step(const TensorF& x);  // (B, 1, E) → (B, 1, E); valid until the next call
  void reorder(const std::vector<int64_t>& parents);
  int64_t steps() const { return t_; }

 private:
  struct Layer {
    TensorF k, v;          // (B, H, cap, hd)
    TensorF mem_k, mem_v;  // rows (B·S, E): viewed as (B, H, S, hd)
  };
  const TensorF& attend(MultiheadAttention<float>& attn, const TensorF& x, Layer& cache, bool self);
  // The self-attention caches with room for `cap` steps; keeps steps 0..t-1 of every row.
  void resize_self_caches(int64_t cap);

  TransformerDecoder<float>& decoder_;
  std::vector<Layer> layers_;
  TensorI memory_lens_;
  int64_t B_ = 0, S_ = 0, E_ = 0, H_ = 0, hd_ = 0, max_steps_ = 0, cap_ = 0, t_ = 0;
  // Step buffers, reused: self_proj_ (B, 3E) and cross_proj_ (B, E) apart, so neither is
  // reallocated when the two attentions take turns.
  TensorF self_proj_, cross_proj_, heads_, attn_out_, sum1_, sum2_, out_;
  SdpaForward<float> fwd_;
};

}  // namespace qkv::nn
