#include "qkv/data/g2p_split.h"

#include <algorithm>

#include "qkv/core/error.h"

namespace qkv::data {

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

G2pSplit g2p_split_of(std::string_view word) {
  const uint64_t bucket = fnv1a64(word) % 100;
  if (bucket < 90) return G2pSplit::train;
  if (bucket < 95) return G2pSplit::dev;
  return G2pSplit::test;
}

const char* g2p_split_name(G2pSplit split) {
  switch (split) {
    case G2pSplit::train: return "train";
    case G2pSplit::dev: return "dev";
    case G2pSplit::test: return "test";
  }
  return "?";
}

G2pSplit g2p_split_from_name(const std::string& name) {
  for (G2pSplit s : {G2pSplit::train, G2pSplit::dev, G2pSplit::test})
    if (name == g2p_split_name(s)) return s;
  fail("g2p split: argument 'split' is '", name, "'; expected train, dev or test");
}

std::vector<CmuWord> g2p_words(const CmuDict& dict, G2pSplit split) {
  std::vector<CmuWord> out;
  for (const auto& w : dict.words)
    if (g2p_split_of(w.word) == split) out.push_back(w);
  return out;
}

std::vector<G2pExample> g2p_examples(const std::vector<CmuWord>& words, bool stress) {
  std::vector<G2pExample> out;
  for (const auto& w : words) {
    const size_t first = out.size();
    for (const auto& p : w.pronunciations) {
      Phonemes phonemes = stress ? p : strip_stress(p);
      const bool seen = std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                                    [&](const G2pExample& e) { return e.phonemes == phonemes; });
      if (!seen) out.push_back({w.word, std::move(phonemes)});
    }
  }
  return out;
}

}  // namespace qkv::data
