// The CMU dictionary reader (Festival's format): the tiny fixture entry by entry, which words it
// keeps, lower-cases, skips and merges; stress stripping; and hostile files, each refused with the
// line, the column and what was expected.
#include <gtest/gtest.h>

#include <filesystem>

#include "hostile_files.h"
#include "qkv/data/cmudict.h"

namespace {

using qkv::data::Phonemes;

const std::string kTiny = std::string(QKV_FIXTURES_DIR) + "/cmudict/tiny.out";

TEST(CmudictTest, TinyFixtureGivesEachWordItsDistinctPronunciations) {
  const qkv::data::CmuDict d = qkv::data::read_cmudict(kTiny);
  std::vector<std::string> words;
  for (const auto& w : d.words) words.push_back(w.word);
  EXPECT_EQ(words, (std::vector<std::string>{"a", "attention", "awol", "brouillard", "cafe", "don't", "live", "record"}));

  const auto* a = d.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->pronunciations, (std::vector<Phonemes>{{"AH0"}, {"EY1"}}));  // Festival's ax is AH
  EXPECT_EQ(d.find("attention")->pronunciations,
            (std::vector<Phonemes>{{"AH0", "T", "EH1", "N", "SH", "AH0", "N"}}));
  EXPECT_EQ(d.find("record")->pronunciations,
            (std::vector<Phonemes>{{"R", "EH1", "K", "ER0", "D"}, {"R", "AH0", "K", "AO1", "R", "D"}}));
  // A syllable without a vowel ("((b r) 0)") carries no digit.
  EXPECT_EQ(d.find("brouillard")->pronunciations,
            (std::vector<Phonemes>{{"B", "R", "W", "IY0", "L", "AA1", "R", "D"}}));
  EXPECT_EQ(d.find("cafe")->pronunciations, (std::vector<Phonemes>{{"K", "AE0", "F", "EY2"}}));
  EXPECT_EQ(d.find("don't")->pronunciations, (std::vector<Phonemes>{{"D", "OW1", "N", "T"}}));
  // "AWOL" and "awol" are one word with one pronunciation.
  EXPECT_EQ(d.find("awol")->pronunciations, (std::vector<Phonemes>{{"EY1", "W", "AO0", "L"}}));
  EXPECT_EQ(d.find("AWOL"), nullptr);
  EXPECT_EQ(d.find("r2d2"), nullptr);

  EXPECT_EQ(d.stats.entries, 15);
  EXPECT_EQ(d.stats.skipped_characters, 2);        // r2d2, a.m.
  EXPECT_EQ(d.stats.lowercased, 1);                // AWOL
  EXPECT_EQ(d.stats.duplicate_pronunciations, 2);  // "a" nil = "a" n; "awol" = "AWOL"
  int64_t stored = 0;
  for (const auto& w : d.words) stored += static_cast<int64_t>(w.pronunciations.size());
  EXPECT_EQ(d.stats.pronunciations(), stored);
}

TEST(CmudictTest, StripStressDropsOnlyTheDigit) {
  EXPECT_EQ(qkv::data::strip_stress(std::string("AH0")), "AH");
  EXPECT_EQ(qkv::data::strip_stress(std::string("EY2")), "EY");
  EXPECT_EQ(qkv::data::strip_stress(std::string("SH")), "SH");
  EXPECT_EQ(qkv::data::strip_stress(Phonemes{"R", "EH1", "K", "ER0", "D"}), (Phonemes{"R", "EH", "K", "ER", "D"}));
}

TEST(CmudictTest, PhonemeInventoryIsCmudicts39) {
  const auto& all = qkv::data::cmudict_phonemes();
  EXPECT_EQ(all.size(), 39u);
  int vowels = 0;
  for (const auto& p : all) vowels += qkv::data::is_vowel(p);
  EXPECT_EQ(vowels, 15);
  EXPECT_FALSE(qkv::data::is_vowel("AX"));
}

TEST(CmudictTest, CrLfLinesAndBlankLinesAreRead) {
  const auto d = qkv::data::parse_cmudict("MNCL\r\n\r\n(\"ab\"  nil  ( ((ae b) 1) ) )\r\n", "mem");
  ASSERT_EQ(d.words.size(), 1u);
  EXPECT_EQ(d.words[0].pronunciations, (std::vector<Phonemes>{{"AE1", "B"}}));
}

void expect_refused(const std::string& text, std::initializer_list<std::string> pieces) {
  qkv::test::expect_file_error_with([&] { qkv::data::parse_cmudict(text, "dict.out"); }, pieces);
}

TEST(CmudictTest, MalformedLinesNameTheLineTheColumnAndWhatWasExpected) {
  const std::string ok = "(\"ab\" nil (((ae b) 1)))\n";
  expect_refused(ok + "hello\n", {"dict.out", "line 2, column 1", "expected '('", "found 'h'"});
  expect_refused(ok + ok + "(\"ab nil (((ae b) 1)))\n", {"line 3", "closing quote", "end of line"});
  expect_refused("(\"ab\" (((ae b) 1)))\n", {"line 1", "part of speech"});
  expect_refused("(\"ab\" nil (((ae b) 1))\n", {"line 1", "')' ending the entry", "end of line"});
  expect_refused("(\"ab\" nil (((ae b) 1))) x\n", {"line 1, column 25", "end of line after", "found 'x'"});
  expect_refused("(\"ab\" nil ())\n", {"line 1", "at least one syllable"});
  expect_refused("(\"ab\" nil ((() 1)))\n", {"line 1", "at least one phone"});
  expect_refused("(\"ab\" nil (((ae b))))\n", {"line 1", "stress digit"});
  expect_refused("MNCL\nMNCL\n", {"line 2, column 1", "expected '('"});
}

TEST(CmudictTest, UnknownPhonesAndStressAreNamed) {
  expect_refused("(\"ab\" nil (((ae qq) 1)))\n", {"line 1, column 17", "unknown phone 'qq'", "expected one of: ax aa"});
  expect_refused("(\"ab\" nil (((ae b) 3)))\n", {"line 1, column 20", "stress '3'", "expected 0, 1 or 2"});
  expect_refused("(\"ab\" nil (((ae \xff) 1)))\n", {"unknown phone '\\xff'"});
  expect_refused(std::string("(\"ab\" nil (((ae b) 1)))\n(\0", 27), {"line 2, column 2", "'\\x00'"});
}

TEST(CmudictTest, HostileFilesAreRefusedWithTheirPath) {
  const auto dir = qkv::test::hostile_dir("cmudict");
  qkv::test::expect_file_error_with([&] { qkv::data::read_cmudict((dir / "missing.out").string()); },
                                    {"CMU dictionary", "missing.out"});
  qkv::test::expect_file_error_with([&] { qkv::data::read_cmudict(dir.string()); }, {"CMU dictionary", "directory"});
  qkv::test::write_bytes(dir / "binary.out", std::string("\x1f\x8b\x08\x00garbage", 12));
  qkv::test::expect_file_error_with([&] { qkv::data::read_cmudict((dir / "binary.out").string()); },
                                    {"binary.out", "line 1, column 1", "expected '('"});
  qkv::test::write_bytes(dir / "empty.out", "");
  EXPECT_TRUE(qkv::data::read_cmudict((dir / "empty.out").string()).words.empty());
  std::filesystem::remove_all(dir);
}

}  // namespace
