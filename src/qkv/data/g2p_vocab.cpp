#include "qkv/data/g2p_vocab.h"

#include <algorithm>

#include "qkv/core/error.h"

namespace qkv::data {

G2pVocab::G2pVocab(std::string name, std::vector<std::string> tokens) : name_(std::move(name)), tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) index_[tokens_[i]] = static_cast<int64_t>(i) + 3;
}

G2pVocab G2pVocab::graphemes() {
  std::vector<std::string> t;
  for (char c = 'a'; c <= 'z'; ++c) t.emplace_back(1, c);
  t.emplace_back("'");
  return G2pVocab("graphemes (a-z and ')", std::move(t));
}

G2pVocab G2pVocab::phonemes(bool stress) {
  std::vector<std::string> t;
  for (const auto& p : cmudict_phonemes()) {
    if (stress && is_vowel(p)) {
      for (char d : {'0', '1', '2'}) t.push_back(p + d);
    } else {
      t.push_back(p);
    }
  }
  return G2pVocab(stress ? "phonemes with stress (AA0 … ZH)" : "phonemes without stress (AA … ZH)", std::move(t));
}

std::vector<int64_t> G2pVocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto it = index_.find(tokens[i]);
    QKV_CHECK(it != index_.end(), "G2pVocab::encode: token '", tokens[i], "' at position ", i,
              " is not in the vocabulary of ", name_);
    ids.push_back(it->second);
  }
  return ids;
}

std::vector<int64_t> G2pVocab::encode_word(const std::string& word) const {
  std::vector<std::string> chars;
  chars.reserve(word.size());
  for (char c : word) chars.emplace_back(1, c);
  return encode(chars);
}

std::vector<std::string> G2pVocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t id : ids) {
    if (id == eos) break;
    if (id == pad || id == bos) continue;
    out.push_back(token(id));
  }
  return out;
}

std::string G2pVocab::token(int64_t id) const {
  if (id == pad) return "<pad>";
  if (id == bos) return "<bos>";
  if (id == eos) return "<eos>";
  QKV_CHECK(id > eos && id < size(), "G2pVocab::token: id ", id, " is out of range [0, ", size(), ") of ", name_);
  return tokens_[static_cast<size_t>(id - 3)];
}

G2pBatch make_g2p_batch(const G2pVocab& graphemes, const G2pVocab& phonemes, const std::vector<G2pExample>& examples,
                        int64_t src_pad_to, int64_t tgt_pad_to) {
  QKV_CHECK(!examples.empty(), "make_g2p_batch: argument 'examples' is empty");
  const int64_t B = static_cast<int64_t>(examples.size());
  std::vector<std::vector<int64_t>> src, tgt;
  int64_t Ls = std::max<int64_t>(1, src_pad_to), Lt = std::max<int64_t>(1, tgt_pad_to);
  for (const auto& e : examples) {
    QKV_CHECK(!e.word.empty() && !e.phonemes.empty(), "make_g2p_batch: example '", e.word,
              "' has an empty word or pronunciation");
    src.push_back(graphemes.encode_word(e.word));
    tgt.push_back(phonemes.encode(e.phonemes));
    Ls = std::max<int64_t>(Ls, static_cast<int64_t>(src.back().size()));
    Lt = std::max<int64_t>(Lt, static_cast<int64_t>(tgt.back().size()) + 1);
  }
  G2pBatch batch{TensorI({B, Ls}), TensorI({B}), TensorI({B, Lt}), TensorI({B, Lt}), TensorI({B})};
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = src[static_cast<size_t>(b)];
    const auto& t = tgt[static_cast<size_t>(b)];
    for (int64_t i = 0; i < Ls; ++i)
      batch.src.at({b, i}) = i < static_cast<int64_t>(s.size()) ? s[static_cast<size_t>(i)] : G2pVocab::pad;
    batch.src_lens[b] = static_cast<int64_t>(s.size());
    const int64_t n = static_cast<int64_t>(t.size());
    for (int64_t i = 0; i < Lt; ++i) {
      batch.tgt_in.at({b, i}) = i == 0 ? G2pVocab::bos : (i <= n ? t[static_cast<size_t>(i - 1)] : G2pVocab::pad);
      batch.tgt_out.at({b, i}) = i < n ? t[static_cast<size_t>(i)] : (i == n ? G2pVocab::eos : G2pVocab::pad);
    }
    batch.tgt_lens[b] = n + 1;
  }
  return batch;
}

}  // namespace qkv::data
