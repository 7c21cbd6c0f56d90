// Decoding with a TransformerSeq2Seq: greedy and beam search, batched over the inputs, on the
// key/value cache (nn/transformer_kv_cache.h); and greedy by full recomputation (the slow twin
// the cache is tested against, and the baseline of its speed-up).
//
//   src (B, S) ids, src_lens (B,) → one token sequence per input, without <bos> and <eos>.
// Greedy: y_0 = <bos>; y_{t+1} = argmax logits(y_0..y_t); a row stops at <eos> or max_steps.
// Beam search (width k): every input keeps k hypotheses (rows b·k .. b·k+k−1 of the cache);
// each step extends every unfinished hypothesis by every token and keeps the k best by summed
// log-probability (a finished one stays with its score); the answer is the hypothesis with the
// best score / length^length_penalty (length counts <eos>; 0 → raw sum, 1 → mean per token).
#pragma once

#include <cstdint>
#include <vector>

#include "qkv/models/transformer_seq2seq.h"

namespace qkv::models {

struct DecodeOptions {
  int64_t max_steps = 64;  // tokens generated at most (<eos> included)
  int64_t bos = 1, eos = 2;
  int64_t beam = 1;               // 1: greedy
  double length_penalty = 1.0;    // beam search only

  void validate(int64_t vocab) const;  // throws naming the option
};

using Sequences = std::vector<std::vector<int64_t>>;

// Greedy (beam == 1) or beam search with the cache.
Sequences decode(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                 const DecodeOptions& options);
// Greedy without a cache: step t runs the decoder on all t+1 tokens again.
Sequences decode_greedy_uncached(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                                 const DecodeOptions& options);

}  // namespace qkv::models
