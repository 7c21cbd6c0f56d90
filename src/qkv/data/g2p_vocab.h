// Vocabularies of the grapheme-to-phoneme task and its padded batches.
//
// Every vocabulary: 0 <pad>, 1 <bos>, 2 <eos>, then its tokens in a fixed order (so ids never
// depend on the data):
//   graphemes            a … z, '                                            (30 ids)
//   phonemes, no stress  AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW, then
//                        B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH  (42 ids)
//   phonemes, stress     each vowel with 0, 1, 2 (AA0 AA1 AA2 AE0 …), then the consonants (72 ids)
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "qkv/core/tensor.h"
#include "qkv/data/cmudict.h"
#include "qkv/data/g2p_split.h"

namespace qkv::data {

class G2pVocab {
 public:
  static constexpr int64_t pad = 0, bos = 1, eos = 2;
  static G2pVocab graphemes();
  static G2pVocab phonemes(bool stress);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()) + 3; }
  // Ids of the tokens (no <bos>/<eos> added); qkv::Error naming the token, its position and the
  // vocabulary when one is not in it (e.g. "AH0" in the vocabulary without stress).
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  // A word, one character a token.
  std::vector<int64_t> encode_word(const std::string& word) const;
  // Stops at <eos>; skips <pad> and <bos>; qkv::Error for an id outside [0, size()).
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;
  std::string token(int64_t id) const;  // "<pad>", "<bos>", "<eos>" or the token
  const std::string& name() const { return name_; }

 private:
  G2pVocab(std::string name, std::vector<std::string> tokens);
  std::string name_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
};

// A padded batch of examples:
//   src (B, Ls) the word's characters then <pad>, src_lens (B,)
//   tgt_in (B, Lt) = <bos> phonemes <pad>…, tgt_out (B, Lt) = phonemes <eos> <pad>…, tgt_lens (B,)
//   (= phonemes + 1, the positions of tgt_in/tgt_out that count).
// Ls and Lt are the longest in the batch, or src_pad_to / tgt_pad_to when those are longer (a
// fixed length keeps every matrix shape of a training run the same).
struct G2pBatch {
  TensorI src, src_lens, tgt_in, tgt_out, tgt_lens;
};
G2pBatch make_g2p_batch(const G2pVocab& graphemes, const G2pVocab& phonemes, const std::vector<G2pExample>& examples,
                        int64_t src_pad_to = 0, int64_t tgt_pad_to = 0);

}  // namespace qkv::data
