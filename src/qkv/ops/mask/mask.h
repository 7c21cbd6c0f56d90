// Which keys each query may attend to.
//
// Dimension glossary: B batch, H heads, Lq queries, Lk keys.
// Every part is optional; a key is visible to a query only when every part allows it:
//   causal      top_left: query i sees keys 0..i; bottom_right: query i sees keys 0..i+(Lk−Lq)
//               (the last query sees every key, as when decoding with a cache).
//   valid_lens  int64 (B,) or (B, Lq): keys at positions >= the length are masked.
//   allowed     bool (uint8), broadcastable to (B, H, Lq, Lk); 1 = may attend (the polarity of
//               torch.nn.functional.scaled_dot_product_attention; nn.MultiheadAttention's masks
//               use the opposite polarity and are converted by the module).
//   bias        float, broadcastable to (B, H, Lq, Lk); added to the scaled scores; -inf masks.
// A row in which no key is visible gives zero weights, zero output and zero gradients.
#pragma once

#include <string>

#include "qkv/core/tensor.h"

namespace qkv {

enum class Causal { none, top_left, bottom_right };

struct AttentionMask {
  Causal causal = Causal::none;
  TensorI valid_lens;
  TensorB allowed;
  TensorF bias;

  bool empty() const {
    return causal == Causal::none && !valid_lens.defined() && !allowed.defined() && !bias.defined();
  }
};

// Throws qkv::Error naming `where` and the offending part when the mask does not fit
// (B, H, Lq, Lk): wrong valid_lens shape, lengths < 0 or > Lk, non-broadcastable masks.
void validate_mask(const char* where, const AttentionMask& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk);

// True when the causal part lets query i see key j.
inline bool causal_allows(Causal causal, int64_t i, int64_t j, int64_t Lq, int64_t Lk) {
  switch (causal) {
    case Causal::none: return true;
    case Causal::top_left: return j <= i;
    case Causal::bottom_right: return j <= i + (Lk - Lq);
  }
  return true;
}

// Per-(b, h) reader of a validated mask: visible(i, j) and bias(i, j) for one head.
class MaskReader {
 public:
  MaskReader(const AttentionMask& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk);
  void select(int64_t b, int64_t h);                 // choose the head before reading
  int64_t key_limit(int64_t i) const;                // keys >= this are masked by valid_lens (Lk if none)
  bool visible(int64_t i, int64_t j) const;           // causal, valid_lens and allowed together
  float bias(int64_t i, int64_t j) const;             // 0 when there is no bias

 private:
  const AttentionMask& mask_;
  int64_t Lq_, Lk_;
  TensorB allowed_;  // expanded (B, H, Lq, Lk) view
  TensorF bias_;     // expanded (B, H, Lq, Lk) view
  const uint8_t* allowed_head_ = nullptr;
  const float* bias_head_ = nullptr;
  int64_t allowed_si_ = 0, allowed_sj_ = 0, bias_si_ = 0, bias_sj_ = 0;
  const int64_t* lens_ = nullptr;  // B or B×Lq entries (contiguous copy)
  TensorI lens_storage_;
  bool lens_per_query_ = false;
  int64_t b_ = 0;
};

}  // namespace qkv
