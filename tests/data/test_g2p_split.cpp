// The grapheme-to-phoneme split: FNV-1a 64 against the published test vectors, the bucket rule,
// examples per pronunciation, and — when Debian's festlex-cmu is installed — the real dictionary:
// its size, the 90/5/5 shares and no word in two splits.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "qkv/core/error.h"
#include "qkv/data/g2p_split.h"

namespace {

using qkv::data::G2pSplit;

TEST(G2pSplitTest, Fnv1a64MatchesThePublishedVectors) {
  // From the FNV reference test suite (Fowler, Noll, Vo).
  EXPECT_EQ(qkv::data::fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(qkv::data::fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(qkv::data::fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(G2pSplitTest, SplitFollowsTheHashBucket) {
  int seen[3] = {0, 0, 0};
  for (const std::string w : {"a", "ab", "attention", "record", "live", "phoneme", "zzzz", "don't", "x", "qkv"}) {
    const uint64_t bucket = qkv::data::fnv1a64(w) % 100;
    const G2pSplit expected = bucket < 90 ? G2pSplit::train : bucket < 95 ? G2pSplit::dev : G2pSplit::test;
    EXPECT_EQ(qkv::data::g2p_split_of(w), expected) << w;
  }
  // Every bucket maps somewhere, in order.
  for (int i = 0; i < 20000; ++i) ++seen[static_cast<int>(qkv::data::g2p_split_of("w" + std::to_string(i)))];
  EXPECT_NEAR(seen[0] / 20000.0, 0.90, 0.01);
  EXPECT_NEAR(seen[1] / 20000.0, 0.05, 0.01);
  EXPECT_NEAR(seen[2] / 20000.0, 0.05, 0.01);
}

TEST(G2pSplitTest, SplitNamesRoundTripAndBadNamesAreRefused) {
  for (G2pSplit s : {G2pSplit::train, G2pSplit::dev, G2pSplit::test})
    EXPECT_EQ(qkv::data::g2p_split_from_name(qkv::data::g2p_split_name(s)), s);
  try {
    qkv::data::g2p_split_from_name("valid");
    ADD_FAILURE() << "no exception";
  } catch (const qkv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'split' is 'valid'; expected train, dev or test"), std::string::npos) << e.what();
  }
}

TEST(G2pSplitTest, ExamplesAreOnePerDistinctPronunciation) {
  const std::vector<qkv::data::CmuWord> words = {
      {"record", {{"R", "EH1", "K", "ER0", "D"}, {"R", "AH0", "K", "AO1", "R", "D"}}},
      {"either", {{"IY1", "DH", "ER0"}, {"IY0", "DH", "ER0"}}}};
  const auto stressed = qkv::data::g2p_examples(words, true);
  ASSERT_EQ(stressed.size(), 4u);
  EXPECT_EQ(stressed[3].word, "either");
  EXPECT_EQ(stressed[3].phonemes, (qkv::data::Phonemes{"IY0", "DH", "ER0"}));
  // Without stress both pronunciations of "either" are IY DH ER: one example.
  const auto plain = qkv::data::g2p_examples(words, false);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[2].phonemes, (qkv::data::Phonemes{"IY", "DH", "ER"}));
}

TEST(G2pSplitTest, RealDictionarySplitsNinetyFiveFiveByWord) {
  if (!std::filesystem::exists(qkv::data::kCmudictPath)) GTEST_SKIP() << "festlex-cmu is not installed";
  const qkv::data::CmuDict d = qkv::data::read_cmudict();
  // Festival's cmudict-0.4: 105,901 entries, about 105,700 distinct words.
  EXPECT_GT(d.stats.entries, 104000);
  EXPECT_LT(d.stats.entries, 108000);
  const double n = static_cast<double>(d.words.size());
  EXPECT_GT(n, 104000);
  std::set<std::string> seen;
  size_t total = 0;
  const double target[3] = {0.90, 0.05, 0.05};
  for (G2pSplit s : {G2pSplit::train, G2pSplit::dev, G2pSplit::test}) {
    const auto words = qkv::data::g2p_words(d, s);
    // Within one percentage point of the target share.
    EXPECT_NEAR(static_cast<double>(words.size()) / n, target[static_cast<int>(s)], 0.01) << qkv::data::g2p_split_name(s);
    for (const auto& w : words) {
      EXPECT_TRUE(seen.insert(w.word).second) << w.word << " is in two splits";
      EXPECT_EQ(qkv::data::g2p_split_of(w.word), s);
    }
    total += words.size();
  }
  EXPECT_EQ(total, d.words.size());
}

}  // namespace
