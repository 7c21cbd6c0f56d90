// The CMU pronouncing dictionary in Festival's compiled-lexicon format (Debian's festlex-cmu,
// /usr/share/festival/dicts/cmu/cmudict-0.4.out): an optional first line "MNCL", then one entry a
// line,
//   ("abandon" nil (((ax) 0) ((b ae n) 1) ((d ax n) 0)))
//    word      POS   syllables: ((phones) stress)
// read into word → pronunciations, each a phoneme sequence in CMUdict's notation: upper case,
// the syllable's stress digit on its vowel ("AH0 B AE1 N D AH0 N"). Festival's "ax" is CMUdict's
// AH (Festival writes AH0 as ax). A syllable without a vowel (Festival's "((b l) 0)") carries
// no digit. Blank lines are allowed; nothing else is.
//
// Words: lower-cased (Festival keeps a few capitals: "AWOL", "Afrocentric"); a word is kept when
// every character is one a user would type, a–z or the apostrophe, and skipped (counted in
// stats.skipped_characters) otherwise — digits, punctuation, spaces, non-ASCII bytes.
// Pronunciations: every distinct one of the word, in file order; an entry whose pronunciation
// the word already has (same phones, another part of speech, or another case of the word) is
// counted in stats.duplicate_pronunciations and not stored again.
//
// Errors: a malformed line throws qkv::FileError "CMU dictionary '<path>': line N, column C:
// expected <what>; found <what>", an unknown phone or stress digit names it and lists the valid
// ones; files larger than kMaxCmudictBytes are refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qkv::data {

// Phonemes of one pronunciation, e.g. {"AH0", "T", "EH1", "N", "SH", "AH0", "N"}.
using Phonemes = std::vector<std::string>;

struct CmuWord {
  std::string word;                     // a–z and '
  std::vector<Phonemes> pronunciations;  // at least one, distinct, in file order
};

struct CmuDictStats {
  int64_t entries = 0;                   // entry lines read
  int64_t skipped_characters = 0;        // entries skipped: the word has a character outside a–z '
  int64_t lowercased = 0;                // entries whose word had capitals (kept, lower-cased)
  int64_t duplicate_pronunciations = 0;  // entries whose pronunciation the word already had
  int64_t pronunciations() const { return entries - skipped_characters - duplicate_pronunciations; }
};

struct CmuDict {
  std::vector<CmuWord> words;  // sorted by word, each word once
  CmuDictStats stats;
  // The word's entry, or nullptr.
  const CmuWord* find(std::string_view word) const;
};

constexpr int64_t kMaxCmudictBytes = int64_t{64} << 20;
// Where Debian's festlex-cmu installs the dictionary.
constexpr const char* kCmudictPath = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";

CmuDict read_cmudict(const std::string& path = kCmudictPath);
// The same parser on text in memory; `name` stands for the path in messages.
CmuDict parse_cmudict(std::string_view text, const std::string& name);

// "AH0" → "AH"; a phoneme without a digit is returned unchanged.
std::string strip_stress(const std::string& phoneme);
Phonemes strip_stress(const Phonemes& phonemes);

// CMUdict's 39 phonemes without stress (15 vowels, then 24 consonants), and whether one is a vowel.
const std::vector<std::string>& cmudict_phonemes();
bool is_vowel(std::string_view phoneme_without_stress);

}  // namespace qkv::data
