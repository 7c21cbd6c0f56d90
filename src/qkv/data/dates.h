// Human-written dates and their ISO 8601 form, generated from a seed (no downloaded corpus).
//
//   "21 November 2026", "Nov 21, 2026", "21.11.26", "saturday 21 nov 2026", "2026/11/21",
//   "11/21/2026", "the 21st of November, 2026", ...  →  "2026-11-21"
// Every format is unambiguous by construction: each separator fixes one field order
// ('.' day.month.year, '/' with the year first year/month/day, '/' with the year last
// month/day/year as in the US, '-' day-month-year with a month name), two-digit years
// map 50–99 → 1950–1999 and 00–49 → 2000–2049, and weekday names are those of the date.
// Years span [year_min, year_max] (default 1950–2049).
//
// Split: a date (not a string) belongs to the held-out split when a hash of its day number
// falls in the held-out fraction, so no held-out date ever appears in training, in any format.
//
// Character vocabulary (shared by source and target): 0 <pad>, 1 <bos>, 2 <eos>, then
// ' ', digits, a–z, A–Z and , . - / '.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qkv/core/rng.h"
#include "qkv/core/tensor.h"

namespace qkv::data {

struct Date {
  int year = 2000, month = 1, day = 1;
  bool operator==(const Date&) const = default;
};

// Days since 1970-01-01 (proleptic Gregorian) and back.
int64_t days_from_civil(const Date& d);
Date civil_from_days(int64_t days);
bool is_valid_date(const Date& d);
// 0 = Monday … 6 = Sunday.
int weekday(const Date& d);
std::string iso(const Date& d);  // "2026-11-21"

enum class Split { train, heldout };

struct DatePair {
  std::string human;
  std::string iso;
  Date date;
  int format = 0;
};

class DateGenerator {
 public:
  // heldout_fraction in (0, 1); split_seed fixes which dates are held out.
  explicit DateGenerator(uint64_t split_seed = 0, double heldout_fraction = 0.1, int year_min = 1950,
                         int year_max = 2049);

  static int num_formats();
  // The date written in format f (0 <= f < num_formats()); `case_style` 0 lower, 1 Title, 2 UPPER
  // for the words; `pad` zero-pads numeric days and months where the format allows it.
  static std::string format(const Date& d, int f, int case_style = 1, bool pad = false);

  Split split_of(const Date& d) const;
  // A uniformly random date of `split` in a random format, case and padding.
  DatePair sample(Rng& rng, Split split) const;
  std::vector<DatePair> sample(Rng& rng, Split split, int64_t n) const;

  int year_min() const { return year_min_; }
  int year_max() const { return year_max_; }

 private:
  uint64_t split_seed_;
  double heldout_fraction_;
  int year_min_, year_max_;
};

// Character vocabulary.
class CharVocab {
 public:
  static constexpr int64_t pad = 0, bos = 1, eos = 2;
  CharVocab();
  int64_t size() const { return static_cast<int64_t>(chars_.size()) + 3; }
  // Throws qkv::Error naming the character and its position when it is not in the vocabulary.
  std::vector<int64_t> encode(const std::string& s) const;
  bool contains(char c) const;
  // Stops at <eos>; skips <pad>/<bos>.
  std::string decode(const std::vector<int64_t>& ids) const;
  std::string token(int64_t id) const;  // "<pad>", "<bos>", "<eos>" or the character

 private:
  std::string chars_;
  int64_t index_[256];
};

// A padded batch: src (B, Ls) with <pad> after each string and src_lens (B,);
// tgt_in (B, Lt) = <bos> + iso, tgt_out (B, Lt) = iso + <eos> (every ISO date has 10 characters).
// Ls is the longest string, or pad_to when that is longer (a fixed Ls keeps every GEMM shape of
// a training run the same, so the kernels built for it are reused).
struct DateBatch {
  TensorI src, src_lens, tgt_in, tgt_out;
};
DateBatch make_batch(const CharVocab& vocab, const std::vector<DatePair>& pairs, int64_t pad_to = 0);

}  // namespace qkv::data
