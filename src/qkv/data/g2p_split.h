// The grapheme-to-phoneme task's split of the CMU dictionary: by word, so every pronunciation
// of a word lands in the same split, and by a stable hash so any language reproduces it:
//
//   h = FNV-1a 64 of the word's bytes (offset 14695981039346656037, prime 1099511628211, mod 2^64)
//   h % 100 <  90 → train,   90 ≤ h % 100 < 95 → dev,   h % 100 ≥ 95 → test
//
// In Python: h = 14695981039346656037; for b in word.encode(): h = ((h ^ b) * 1099511628211) % 2**64
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qkv/data/cmudict.h"

namespace qkv::data {

enum class G2pSplit { train, dev, test };

uint64_t fnv1a64(std::string_view bytes);
G2pSplit g2p_split_of(std::string_view word);
// "train", "dev", "test"; and back (qkv::Error naming the argument for anything else).
const char* g2p_split_name(G2pSplit split);
G2pSplit g2p_split_from_name(const std::string& name);

// The words of one split, in the dictionary's order (sorted).
std::vector<CmuWord> g2p_words(const CmuDict& dict, G2pSplit split);

// One training pair: a word and one of its pronunciations (with stress, or stripped).
struct G2pExample {
  std::string word;
  Phonemes phonemes;
};
// Every (word, pronunciation) pair of the words, pronunciations that become equal when stress is
// stripped kept once.
std::vector<G2pExample> g2p_examples(const std::vector<CmuWord>& words, bool stress);

}  // namespace qkv::data
