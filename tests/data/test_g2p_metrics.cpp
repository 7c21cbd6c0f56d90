// The grapheme-to-phoneme metrics: edit distance against its recursive definition and worked
// examples; WER and PER with several references, with and without stress, worked by hand.
#include <gtest/gtest.h>

#include <string>

#include "qkv/core/error.h"
#include "qkv/core/rng.h"
#include "qkv/data/g2p_metrics.h"

namespace {

using qkv::data::Phonemes;

// The recursive definition of the Levenshtein distance, exponential: the slow twin.
int64_t levenshtein_recursive(const std::string& a, const std::string& b) {
  if (a.empty()) return static_cast<int64_t>(b.size());
  if (b.empty()) return static_cast<int64_t>(a.size());
  const std::string a1 = a.substr(1), b1 = b.substr(1);
  return std::min({levenshtein_recursive(a1, b1) + (a[0] == b[0] ? 0 : 1), levenshtein_recursive(a1, b) + 1,
                   levenshtein_recursive(a, b1) + 1});
}

TEST(G2pMetricsTest, EditDistanceWorkedExamples) {
  EXPECT_EQ(qkv::data::edit_distance(std::string("kitten"), std::string("sitting")), 3);
  EXPECT_EQ(qkv::data::edit_distance(std::string(""), std::string("abc")), 3);
  EXPECT_EQ(qkv::data::edit_distance(std::string("abc"), std::string("")), 3);
  EXPECT_EQ(qkv::data::edit_distance(std::string("flaw"), std::string("lawn")), 2);
  // "record" (noun) against the verb: R EH1 K ER0 D → R AH0 K AO1 R D, two substitutions and one insertion.
  EXPECT_EQ(qkv::data::edit_distance(Phonemes{"R", "EH1", "K", "ER0", "D"}, Phonemes{"R", "AH0", "K", "AO1", "R", "D"}), 3);
}

TEST(G2pMetricsTest, EditDistanceEqualsTheRecursiveDefinition) {
  qkv::Rng rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string a, b;
    const int la = static_cast<int>(rng.next_u64() % 7), lb = static_cast<int>(rng.next_u64() % 7);
    for (int i = 0; i < la; ++i) a += static_cast<char>('a' + rng.next_u64() % 3);
    for (int i = 0; i < lb; ++i) b += static_cast<char>('a' + rng.next_u64() % 3);
    ASSERT_EQ(qkv::data::edit_distance(a, b), levenshtein_recursive(a, b)) << "'" << a << "' vs '" << b << "'";
    ASSERT_EQ(qkv::data::edit_distance(a, b), qkv::data::edit_distance(b, a));
  }
}

TEST(G2pMetricsTest, WerAndPerWorkedByHand) {
  const std::vector<std::vector<Phonemes>> refs = {
      {{"R", "EH1", "K", "ER0", "D"}, {"R", "AH0", "K", "AO1", "R", "D"}},  // record: two references
      {{"AH0", "T", "EH1", "N", "SH", "AH0", "N"}},                          // attention
      {{"L", "AY1", "V"}, {"L", "IH1", "V"}},                                // live
  };
  const std::vector<Phonemes> preds = {
      {"R", "AH0", "K", "AO1", "R", "D"},           // the second reference exactly: correct
      {"AH0", "T", "EH1", "N", "SH", "AH1", "N"},   // one stress wrong: 1 edit of 7 with stress, 0 without
      {"L", "IY1", "V", "Z"},                       // 2 edits from either reference (length 3; the first is taken)
  };
  const auto s = qkv::data::score_g2p(preds, refs, true);
  EXPECT_EQ(s.words, 3);
  EXPECT_EQ(s.word_errors, 2);
  EXPECT_EQ(s.edits, 0 + 1 + 2);
  EXPECT_EQ(s.reference_phonemes, 6 + 7 + 3);
  EXPECT_DOUBLE_EQ(s.wer(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.per(), 3.0 / 16.0);

  const auto plain = qkv::data::score_g2p(preds, refs, false);
  EXPECT_EQ(plain.word_errors, 1);
  EXPECT_EQ(plain.edits, 2);
  EXPECT_EQ(plain.reference_phonemes, 16);
  EXPECT_DOUBLE_EQ(plain.wer(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(plain.per(), 2.0 / 16.0);
}

TEST(G2pMetricsTest, ClosestReferenceDecidesThePhonemeErrors) {
  qkv::data::G2pScore s;
  // One deletion from the long reference, three edits from the short one: the long one counts.
  s.add({"A", "B", "C"}, {{"X"}, {"A", "B", "C", "D"}}, true);
  EXPECT_EQ(s.edits, 1);
  EXPECT_EQ(s.reference_phonemes, 4);
  EXPECT_DOUBLE_EQ(s.per(), 0.25);
  EXPECT_EQ(qkv::data::G2pScore{}.wer(), 0.0);  // no words: no error rate, not NaN
  EXPECT_EQ(qkv::data::G2pScore{}.per(), 0.0);
}

TEST(G2pMetricsTest, MismatchedArgumentsAreNamed) {
  try {
    qkv::data::score_g2p({{"A"}}, {}, true);
    ADD_FAILURE() << "no exception";
  } catch (const qkv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'predictions' has 1 words; expected as many as 'references' (0)"),
              std::string::npos) << e.what();
  }
  try {
    qkv::data::score_g2p({{"A"}}, {{}}, true);
    ADD_FAILURE() << "no exception";
  } catch (const qkv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no pronunciation for word 0"), std::string::npos) << e.what();
  }
}

}  // namespace
