// Scores of a grapheme-to-phoneme system, as the G2P literature reports them:
//
//   edit distance   Levenshtein distance between two phoneme sequences (insertions, deletions and
//                   substitutions, each costing 1)
//   WER             fraction of words with any error: a prediction is correct when it equals ANY
//                   reference pronunciation of the word
//   PER             total edits / total reference length, summed over the words, where each word
//                   counts against its closest reference (fewest edits; on a tie, the earlier one)
//
// With stress, phonemes compare as written (AH0 ≠ AH1); without stress, the digits are stripped
// from the prediction and the references first.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "qkv/data/cmudict.h"

namespace qkv::data {

// Levenshtein distance between two sequences of comparable tokens (strings, ids), O(|a|·|b|).
template <typename Sequence>
int64_t edit_distance(const Sequence& a, const Sequence& b) {
  // row[j]: distance between the first i tokens of a and the first j of b.
  std::vector<int64_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row[b.size()];
}

// Counts over a set of words; add() one word at a time, or score_g2p() for a whole set.
struct G2pScore {
  int64_t words = 0;               // words scored
  int64_t word_errors = 0;         // words whose prediction equals no reference
  int64_t edits = 0;               // edits to each word's closest reference, summed
  int64_t reference_phonemes = 0;  // length of each word's closest reference, summed

  // qkv::Error when `references` is empty.
  void add(const Phonemes& predicted, const std::vector<Phonemes>& references, bool stress);
  double wer() const { return words ? static_cast<double>(word_errors) / static_cast<double>(words) : 0.0; }
  double per() const {
    return reference_phonemes ? static_cast<double>(edits) / static_cast<double>(reference_phonemes) : 0.0;
  }
};

// predictions[i] scored against references[i]; qkv::Error naming the arguments when their sizes
// differ or a word has no reference.
G2pScore score_g2p(const std::vector<Phonemes>& predictions, const std::vector<std::vector<Phonemes>>& references,
                   bool stress);

}  // namespace qkv::data
