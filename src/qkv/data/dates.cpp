#include "qkv/data/dates.h"

#include <algorithm>
#include <cctype>

namespace qkv::data {
namespace {

const char* kMonths[12] = {"january", "february", "march",     "april",   "may",      "june",
                           "july",    "august",   "september", "october", "november", "december"};
const char* kWeekdays[7] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

// Applies the case style to a lower-case word: 0 lower, 1 Title, 2 UPPER.
std::string cased(std::string w, int style) {
  if (style == 2) {
    for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  } else if (style == 1 && !w.empty()) {
    w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
  }
  return w;
}

std::string num(int v, bool pad, int width = 2) {
  std::string s = std::to_string(v);
  while (pad && static_cast<int>(s.size()) < width) s = "0" + s;
  return s;
}

std::string ordinal_suffix(int day) {
  if (day % 100 >= 11 && day % 100 <= 13) return "th";
  switch (day % 10) {
    case 1: return "st";
    case 2: return "nd";
    case 3: return "rd";
    default: return "th";
  }
}

}  // namespace

int64_t days_from_civil(const Date& d) {
  int64_t y = d.year - (d.month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = (d.month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + d.day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Date civil_from_days(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  return Date{static_cast<int>(y + (month <= 2 ? 1 : 0)), static_cast<int>(month), static_cast<int>(day)};
}

bool is_valid_date(const Date& d) {
  if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31) return false;
  return civil_from_days(days_from_civil(d)) == d;
}

int weekday(const Date& d) {
  int64_t w = (days_from_civil(d) + 3) % 7;  // 1970-01-01 was a Thursday
  return static_cast<int>(w < 0 ? w + 7 : w);
}

std::string iso(const Date& d) { return num(d.year, true, 4) + "-" + num(d.month, true) + "-" + num(d.day, true); }

DateGenerator::DateGenerator(uint64_t split_seed, double heldout_fraction, int year_min, int year_max)
    : split_seed_(split_seed), heldout_fraction_(heldout_fraction), year_min_(year_min), year_max_(year_max) {
  QKV_CHECK(heldout_fraction > 0.0 && heldout_fraction < 1.0, "DateGenerator: argument 'heldout_fraction' is ",
            heldout_fraction, "; expected a value in (0, 1)");
  QKV_CHECK(1000 <= year_min && year_min <= year_max && year_max <= 9999, "DateGenerator: years [", year_min, ", ",
            year_max, "] must satisfy 1000 <= year_min <= year_max <= 9999");
  QKV_CHECK(year_max - year_min < 100, "DateGenerator: years [", year_min, ", ", year_max,
            "] span more than 100 years, which makes two-digit years ambiguous");
}

int DateGenerator::num_formats() { return 16; }

std::string DateGenerator::format(const Date& d, int f, int cs, bool pad) {
  QKV_CHECK(is_valid_date(d), "DateGenerator::format: invalid date ", d.year, "-", d.month, "-", d.day);
  QKV_CHECK(0 <= f && f < num_formats(), "DateGenerator::format: argument 'f' is ", f, "; expected [0, ",
            num_formats(), ")");
  QKV_CHECK(0 <= cs && cs <= 2, "DateGenerator::format: argument 'case_style' is ", cs, "; expected 0, 1 or 2");
  const std::string month = cased(kMonths[d.month - 1], cs);
  const std::string mon = month.substr(0, 3);
  const std::string wday = cased(kWeekdays[weekday(d)], cs);
  const std::string wd = wday.substr(0, 3);
  const std::string D = num(d.day, pad), M = num(d.month, pad), Y = num(d.year, true, 4);
  const std::string YY = num(d.year % 100, true);
  const std::string Dth = std::to_string(d.day) + cased(ordinal_suffix(d.day), cs == 2 ? 2 : 0);
  switch (f) {
    case 0: return D + " " + month + " " + Y;
    case 1: return month + " " + D + ", " + Y;
    case 2: return mon + " " + D + ", " + Y;
    case 3: return D + " " + mon + " " + Y;
    case 4: return wday + " " + D + " " + mon + " " + Y;
    case 5: return wday + ", " + month + " " + D + ", " + Y;
    case 6: return D + "." + M + "." + YY;
    case 7: return D + "." + M + "." + Y;
    case 8: return Y + "/" + num(d.month, true) + "/" + num(d.day, true);
    case 9: return M + "/" + D + "/" + Y;
    case 10: return cased("the", cs) + " " + Dth + " " + cased("of", cs) + " " + month + ", " + Y;
    case 11: return month + " " + Dth + ", " + Y;
    case 12: return D + "-" + mon + "-" + Y;
    case 13: return wd + ", " + D + " " + mon + " " + Y;
    case 14: return mon + " " + D + " '" + YY;
    default: return Dth + " " + month + " " + Y;
  }
}

Split DateGenerator::split_of(const Date& d) const {
  uint64_t state = static_cast<uint64_t>(days_from_civil(d)) * 0x9e3779b97f4a7c15ull ^ split_seed_;
  double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
  return u < heldout_fraction_ ? Split::heldout : Split::train;
}

DatePair DateGenerator::sample(Rng& rng, Split split) const {
  const int64_t lo = days_from_civil({year_min_, 1, 1}), hi = days_from_civil({year_max_, 12, 31});
  Date d;
  do {
    d = civil_from_days(lo + static_cast<int64_t>(rng.below(static_cast<uint64_t>(hi - lo + 1))));
  } while (split_of(d) != split);
  DatePair p;
  p.date = d;
  p.format = static_cast<int>(rng.below(static_cast<uint64_t>(num_formats())));
  double c = rng.uniform();
  int cs = c < 0.4 ? 0 : c < 0.8 ? 1 : 2;
  bool pad = rng.uniform() < 0.5;
  p.human = format(d, p.format, cs, pad);
  p.iso = iso(d);
  return p;
}

std::vector<DatePair> DateGenerator::sample(Rng& rng, Split split, int64_t n) const {
  std::vector<DatePair> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) out.push_back(sample(rng, split));
  return out;
}

CharVocab::CharVocab() : chars_(" 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,.-/'") {
  std::fill(std::begin(index_), std::end(index_), -1);
  for (size_t i = 0; i < chars_.size(); ++i) index_[static_cast<unsigned char>(chars_[i])] = static_cast<int64_t>(i) + 3;
}

bool CharVocab::contains(char c) const { return index_[static_cast<unsigned char>(c)] >= 0; }

std::vector<int64_t> CharVocab::encode(const std::string& s) const {
  std::vector<int64_t> ids;
  ids.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int64_t id = index_[static_cast<unsigned char>(s[i])];
    if (id < 0) {
      const unsigned code = static_cast<unsigned char>(s[i]);
      std::string what = code < 128 ? str("character '", s[i], "'") : str("non-ASCII byte ", code);
      fail("CharVocab::encode: ", what, " at position ", i, " of \"", s,
           "\" is not in the vocabulary (ASCII letters, digits, space and , . - / ')");
    }
    ids.push_back(id);
  }
  return ids;
}

std::string CharVocab::decode(const std::vector<int64_t>& ids) const {
  std::string s;
  for (int64_t id : ids) {
    if (id == eos) break;
    if (id == pad || id == bos) continue;
    QKV_CHECK(id > eos && id < size(), "CharVocab::decode: id ", id, " is out of range [0, ", size(), ")");
    s += chars_[static_cast<size_t>(id - 3)];
  }
  return s;
}

std::string CharVocab::token(int64_t id) const {
  if (id == pad) return "<pad>";
  if (id == bos) return "<bos>";
  if (id == eos) return "<eos>";
  QKV_CHECK(id > eos && id < size(), "CharVocab::token: id ", id, " is out of range [0, ", size(), ")");
  return std::string(1, chars_[static_cast<size_t>(id - 3)]);
}

DateBatch make_batch(const CharVocab& vocab, const std::vector<DatePair>& pairs, int64_t pad_to) {
  QKV_CHECK(!pairs.empty(), "make_batch: argument 'pairs' is empty");
  const int64_t B = static_cast<int64_t>(pairs.size());
  std::vector<std::vector<int64_t>> src;
  int64_t Ls = std::max<int64_t>(1, pad_to);
  for (auto& p : pairs) {
    src.push_back(vocab.encode(p.human));
    QKV_CHECK(!src.back().empty(), "make_batch: an empty source string");
    Ls = std::max<int64_t>(Ls, static_cast<int64_t>(src.back().size()));
  }
  const int64_t Lt = 11;
  DateBatch batch{TensorI({B, Ls}), TensorI({B}), TensorI({B, Lt}), TensorI({B, Lt})};
  for (int64_t b = 0; b < B; ++b) {
    auto& s = src[static_cast<size_t>(b)];
    for (size_t i = 0; i < s.size(); ++i) batch.src.at({b, static_cast<int64_t>(i)}) = s[i];
    batch.src_lens[b] = static_cast<int64_t>(s.size());
    auto t = vocab.encode(pairs[static_cast<size_t>(b)].iso);
    QKV_CHECK(static_cast<int64_t>(t.size()) == Lt - 1, "make_batch: target '", pairs[static_cast<size_t>(b)].iso,
              "' is not a 10-character ISO date");
    batch.tgt_in.at({b, 0}) = CharVocab::bos;
    for (int64_t i = 0; i < Lt - 1; ++i) {
      batch.tgt_in.at({b, i + 1}) = t[static_cast<size_t>(i)];
      batch.tgt_out.at({b, i}) = t[static_cast<size_t>(i)];
    }
    batch.tgt_out.at({b, Lt - 1}) = CharVocab::eos;
  }
  return batch;
}

}  // namespace qkv::data
