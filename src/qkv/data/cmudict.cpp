#include "qkv/data/cmudict.h"

#include <algorithm>
#include <array>
#include <map>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

namespace qkv::data {
namespace {

constexpr std::array<const char*, 15> kVowels = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER",
                                                 "EY", "IH", "IY", "OW", "OY", "UH", "UW"};
constexpr std::array<const char*, 24> kConsonants = {"B", "CH", "D", "DH", "F", "G", "HH", "JH",
                                                     "K", "L", "M", "N", "NG", "P", "R", "S",
                                                     "SH", "T", "TH", "V", "W", "Y", "Z", "ZH"};

// One byte as printed in messages: itself when printable ASCII, else \xNN.
std::string escaped(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
  static const char* hex = "0123456789abcdef";
  return str("\\x", hex[c >> 4], hex[c & 15]);
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) out += escaped(static_cast<unsigned char>(c));
  return out;
}

// What stands at `pos` of the line: 'x' or "end of line".
std::string show(std::string_view line, size_t pos) {
  if (pos >= line.size()) return "end of line";
  return str("'", escaped(static_cast<unsigned char>(line[pos])), "'");
}

// One entry line, read left to right.
class LineParser {
 public:
  LineParser(std::string_view line, int64_t line_no, const std::string& name)
      : line_(line), line_no_(line_no), name_(name) {}

  [[noreturn]] void fail_here(const std::string& expected) const {
    throw FileError(str("CMU dictionary '", name_, "': line ", line_no_, ", column ", pos_ + 1, ": expected ",
                        expected, "; found ", show(line_, pos_)));
  }
  // Refuses the token atom() read last, pointing at its first character.
  [[noreturn]] void fail_token(const std::string& what) const {
    throw FileError(str("CMU dictionary '", name_, "': line ", line_no_, ", column ", token_start_ + 1, ": ", what));
  }

  void skip_space() {
    while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
  }
  void expect(char c, const char* what) {
    skip_space();
    if (pos_ >= line_.size() || line_[pos_] != c) fail_here(str("'", c, "' (", what, ")"));
    ++pos_;
  }
  bool next_is(char c) {
    skip_space();
    return pos_ < line_.size() && line_[pos_] == c;
  }
  // A run of characters other than space, tab and parentheses.
  std::string_view atom(const char* what) {
    skip_space();
    const size_t start = token_start_ = pos_;
    while (pos_ < line_.size() && line_[pos_] != ' ' && line_[pos_] != '\t' && line_[pos_] != '(' &&
           line_[pos_] != ')' && line_[pos_] != '"')
      ++pos_;
    if (pos_ == start) fail_here(what);
    return line_.substr(start, pos_ - start);
  }
  std::string_view quoted_word() {
    expect('"', "the word's opening quote");
    const size_t start = pos_;
    while (pos_ < line_.size() && line_[pos_] != '"') ++pos_;
    if (pos_ >= line_.size()) fail_here("the word's closing quote");
    std::string_view w = line_.substr(start, pos_ - start);
    ++pos_;
    return w;
  }
  void expect_end() {
    skip_space();
    if (pos_ != line_.size()) fail_here("end of line after the entry's closing ')'");
  }

 private:
  std::string_view line_;
  size_t pos_ = 0, token_start_ = 0;
  int64_t line_no_;
  const std::string& name_;
};

// Festival's phone → CMUdict's phoneme without stress ("ax" → "AH"), or "" when unknown.
std::string cmu_phone(std::string_view festival) {
  if (festival == "ax") return "AH";
  std::string up;
  for (char c : festival) up += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  for (const char* p : kVowels)
    if (up == p) return up;
  for (const char* p : kConsonants)
    if (up == p) return up;
  return "";
}

std::string festival_phone_list() {
  std::string s = "ax";
  for (const char* p : kVowels) s += str(" ", std::string(p));
  for (const char* p : kConsonants) s += str(" ", std::string(p));
  std::transform(s.begin(), s.end(), s.begin(), [](char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; });
  return s;
}

// ((phones) stress) ... ) — the syllables after the entry's opening '(' of its pronunciation.
Phonemes parse_syllables(LineParser& p) {
  Phonemes out;
  p.expect('(', "start of the syllable list");
  int64_t syllables = 0;
  while (!p.next_is(')')) {
    p.expect('(', "start of a syllable '((phones) stress)' or ')' ending the syllable list");
    p.expect('(', "start of the syllable's phone list");
    std::vector<std::string> phones;
    std::vector<bool> vowel;
    while (!p.next_is(')')) {
      std::string_view f = p.atom("a phone or ')' ending the phone list");
      const std::string phone = cmu_phone(f);
      if (phone.empty())
        p.fail_token(str("unknown phone '", printable(f), "'; expected one of: ", festival_phone_list()));
      phones.push_back(phone);
      vowel.push_back(is_vowel(phone));
    }
    if (phones.empty()) p.fail_here("at least one phone in the syllable");
    p.expect(')', "')' ending the phone list");
    std::string_view stress = p.atom("the syllable's stress digit (0, 1 or 2)");
    if (stress.size() != 1 || stress[0] < '0' || stress[0] > '2')
      p.fail_token(str("stress '", printable(stress), "'; expected 0, 1 or 2"));
    p.expect(')', "')' ending the syllable");
    for (size_t i = 0; i < phones.size(); ++i) out.push_back(vowel[i] ? phones[i] + stress[0] : phones[i]);
    ++syllables;
  }
  p.expect(')', "')' ending the syllable list");
  if (syllables == 0) p.fail_here("at least one syllable");
  return out;
}

bool typed_word(std::string& w, bool& had_capitals) {
  had_capitals = false;
  if (w.empty()) return false;
  for (char& c : w) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
      had_capitals = true;
    }
    if (!((c >= 'a' && c <= 'z') || c == '\'')) return false;
  }
  return true;
}

}  // namespace

const std::vector<std::string>& cmudict_phonemes() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v(kVowels.begin(), kVowels.end());
    v.insert(v.end(), kConsonants.begin(), kConsonants.end());
    return v;
  }();
  return all;
}

bool is_vowel(std::string_view phoneme) {
  for (const char* v : kVowels)
    if (phoneme == v) return true;
  return false;
}

std::string strip_stress(const std::string& phoneme) {
  if (!phoneme.empty() && phoneme.back() >= '0' && phoneme.back() <= '9') return phoneme.substr(0, phoneme.size() - 1);
  return phoneme;
}

Phonemes strip_stress(const Phonemes& phonemes) {
  Phonemes out;
  out.reserve(phonemes.size());
  for (const auto& p : phonemes) out.push_back(strip_stress(p));
  return out;
}

const CmuWord* CmuDict::find(std::string_view word) const {
  auto it = std::lower_bound(words.begin(), words.end(), word,
                             [](const CmuWord& w, std::string_view key) { return w.word < key; });
  return (it != words.end() && it->word == word) ? &*it : nullptr;
}

CmuDict parse_cmudict(std::string_view text, const std::string& name) {
  CmuDict dict;
  std::map<std::string, std::vector<Phonemes>> words;
  int64_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (line_no == 1 && line == "MNCL") continue;
    LineParser p(line, line_no, name);
    p.expect('(', "'(' starting an entry '(\"word\" pos (syllables))'");
    std::string word(p.quoted_word());
    p.atom("the part of speech (e.g. nil, n, v)");
    Phonemes phonemes = parse_syllables(p);
    p.expect(')', "')' ending the entry");
    p.expect_end();

    ++dict.stats.entries;
    bool had_capitals = false;
    if (!typed_word(word, had_capitals)) {
      ++dict.stats.skipped_characters;
      continue;
    }
    if (had_capitals) ++dict.stats.lowercased;
    auto& prons = words[word];
    if (std::find(prons.begin(), prons.end(), phonemes) != prons.end()) {
      ++dict.stats.duplicate_pronunciations;
      continue;
    }
    prons.push_back(std::move(phonemes));
  }
  dict.words.reserve(words.size());
  for (auto& [w, prons] : words) dict.words.push_back({w, std::move(prons)});
  return dict;
}

CmuDict read_cmudict(const std::string& path) {
  const std::vector<uint8_t> bytes = io::read_input_file(path, "CMU dictionary", kMaxCmudictBytes);
  return parse_cmudict(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       io::printable_path(path));
}

}  // namespace qkv::data
