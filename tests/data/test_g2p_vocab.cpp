// The grapheme-to-phoneme vocabularies (fixed ids, encode/decode, errors naming the token) and
// the padded batch, checked position by position on a two-word example.
#include <gtest/gtest.h>

#include <functional>

#include "qkv/core/error.h"
#include "qkv/data/g2p_vocab.h"

namespace {

using qkv::data::G2pVocab;

TEST(G2pVocabTest, SizesAndFixedIds) {
  const auto g = G2pVocab::graphemes(), p = G2pVocab::phonemes(false), ps = G2pVocab::phonemes(true);
  EXPECT_EQ(g.size(), 3 + 27);
  EXPECT_EQ(p.size(), 3 + 39);
  EXPECT_EQ(ps.size(), 3 + 15 * 3 + 24);
  EXPECT_EQ(g.encode_word("a'z"), (std::vector<int64_t>{3, 29, 28}));
  EXPECT_EQ(p.encode({"AA", "ZH"}), (std::vector<int64_t>{3, 41}));
  EXPECT_EQ(ps.encode({"AA0", "AA2", "AE0", "B"}), (std::vector<int64_t>{3, 5, 6, 48}));
  EXPECT_EQ(ps.token(0), "<pad>");
  EXPECT_EQ(ps.token(1), "<bos>");
  EXPECT_EQ(ps.token(2), "<eos>");
}

TEST(G2pVocabTest, DecodeInvertsEncodeAndStopsAtEnd) {
  const auto ps = G2pVocab::phonemes(true);
  const qkv::data::Phonemes attention = {"AH0", "T", "EH1", "N", "SH", "AH0", "N"};
  std::vector<int64_t> ids = ps.encode(attention);
  ids.insert(ids.begin(), G2pVocab::bos);
  ids.push_back(G2pVocab::eos);
  ids.push_back(ps.encode({"T"})[0]);  // after <eos>: ignored
  EXPECT_EQ(ps.decode(ids), attention);
  const auto g = G2pVocab::graphemes();
  EXPECT_EQ(g.decode(g.encode_word("don't")), (std::vector<std::string>{"d", "o", "n", "'", "t"}));
}

void expect_error(const std::function<void()>& f, const std::string& piece) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one holding: " << piece;
  } catch (const qkv::Error& e) {
    EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << e.what();
  }
}

TEST(G2pVocabTest, TokensOutsideTheVocabularyAreNamed) {
  const auto p = G2pVocab::phonemes(false), g = G2pVocab::graphemes();
  expect_error([&] { p.encode({"AH", "AH0"}); }, "token 'AH0' at position 1 is not in the vocabulary of phonemes without stress");
  expect_error([&] { g.encode_word("Ab"); }, "token 'A' at position 0");
  expect_error([&] { p.decode({3, 42}); }, "id 42 is out of range [0, 42)");
  expect_error([&] { p.token(-1); }, "id -1 is out of range");
}

TEST(G2pVocabTest, BatchPadsSourcesAndShiftsTargets) {
  const auto g = G2pVocab::graphemes(), p = G2pVocab::phonemes(false);
  const std::vector<qkv::data::G2pExample> ex = {{"ab", {"AE", "B"}}, {"a", {"AH"}}};
  const auto b = qkv::data::make_g2p_batch(g, p, ex);
  const int64_t AE = p.encode({"AE"})[0], B = p.encode({"B"})[0], AH = p.encode({"AH"})[0];
  const int64_t pad = G2pVocab::pad, bos = G2pVocab::bos, eos = G2pVocab::eos;
  ASSERT_EQ(b.src.shape(), (qkv::Shape{2, 2}));
  ASSERT_EQ(b.tgt_in.shape(), (qkv::Shape{2, 3}));
  const std::vector<int64_t> src(b.src.data(), b.src.data() + 4), in(b.tgt_in.data(), b.tgt_in.data() + 6),
      out(b.tgt_out.data(), b.tgt_out.data() + 6);
  EXPECT_EQ(src, (std::vector<int64_t>{3, 4, 3, pad}));
  EXPECT_EQ(in, (std::vector<int64_t>{bos, AE, B, bos, AH, pad}));
  EXPECT_EQ(out, (std::vector<int64_t>{AE, B, eos, AH, eos, pad}));
  EXPECT_EQ(b.src_lens[0], 2);
  EXPECT_EQ(b.src_lens[1], 1);
  EXPECT_EQ(b.tgt_lens[0], 3);
  EXPECT_EQ(b.tgt_lens[1], 2);
  const auto padded = qkv::data::make_g2p_batch(g, p, ex, 5, 7);
  EXPECT_EQ(padded.src.shape(), (qkv::Shape{2, 5}));
  EXPECT_EQ(padded.tgt_out.shape(), (qkv::Shape{2, 7}));
  expect_error([&] { qkv::data::make_g2p_batch(g, p, {}); }, "'examples' is empty");
  expect_error([&] { qkv::data::make_g2p_batch(g, p, {{"ab", {}}}); }, "empty word or pronunciation");
}

}  // namespace
