// The date generator: calendar arithmetic, weekday names, determinism, unambiguous formats,
// a held-out split disjoint by date, and the character vocabulary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "qkv/data/dates.h"

namespace {

using qkv::data::Date;
using qkv::data::DateGenerator;
using qkv::data::Split;

TEST(DatesTest, CalendarRoundTripsEveryDayOfTheRange) {
  int64_t lo = qkv::data::days_from_civil({1950, 1, 1}), hi = qkv::data::days_from_civil({2049, 12, 31});
  EXPECT_EQ(hi - lo + 1, 36525);  // 100 years, 25 leap days (2000 is a leap year)
  EXPECT_EQ(qkv::data::days_from_civil({1970, 1, 1}), 0);
  for (int64_t d = lo; d <= hi; ++d) {
    Date c = qkv::data::civil_from_days(d);
    ASSERT_TRUE(qkv::data::is_valid_date(c));
    ASSERT_EQ(qkv::data::days_from_civil(c), d);
  }
  EXPECT_FALSE(qkv::data::is_valid_date({1900, 2, 29}));
  EXPECT_TRUE(qkv::data::is_valid_date({2000, 2, 29}));
  EXPECT_FALSE(qkv::data::is_valid_date({2026, 11, 31}));
}

TEST(DatesTest, WeekdayNamesAreThoseOfTheDate) {
  EXPECT_EQ(qkv::data::weekday({1970, 1, 1}), 3);    // Thursday
  EXPECT_EQ(qkv::data::weekday({2026, 11, 21}), 5);  // Saturday
  EXPECT_EQ(qkv::data::weekday({1999, 3, 3}), 2);    // Wednesday
  EXPECT_EQ(qkv::data::weekday({2000, 2, 29}), 1);   // Tuesday
  EXPECT_EQ(qkv::data::weekday({1950, 1, 1}), 6);    // Sunday
  EXPECT_EQ(DateGenerator::format({2026, 11, 21}, 4, 0), "saturday 21 nov 2026");
  EXPECT_EQ(DateGenerator::format({2026, 11, 21}, 5, 1), "Saturday, November 21, 2026");
  EXPECT_EQ(DateGenerator::format({2026, 11, 21}, 13, 2), "SAT, 21 NOV 2026");
  // Consecutive days step through the weekdays in order.
  for (int64_t d = 0; d < 30; ++d) {
    Date a = qkv::data::civil_from_days(d), b = qkv::data::civil_from_days(d + 1);
    EXPECT_EQ((qkv::data::weekday(a) + 1) % 7, qkv::data::weekday(b));
  }
}

TEST(DatesTest, FormatsLookAsDocumented) {
  Date d{2026, 11, 21};
  EXPECT_EQ(DateGenerator::format(d, 0), "21 November 2026");
  EXPECT_EQ(DateGenerator::format(d, 2), "Nov 21, 2026");
  EXPECT_EQ(DateGenerator::format(d, 6), "21.11.26");
  EXPECT_EQ(DateGenerator::format(d, 8), "2026/11/21");
  EXPECT_EQ(DateGenerator::format(d, 9), "11/21/2026");
  EXPECT_EQ(DateGenerator::format({1999, 3, 3}, 6, 1, true), "03.03.99");
  EXPECT_EQ(DateGenerator::format({1999, 3, 3}, 10, 0), "the 3rd of march, 1999");
  EXPECT_EQ(DateGenerator::format({2011, 1, 12}, 15, 1), "12th January 2011");
  EXPECT_EQ(qkv::data::iso({1999, 3, 3}), "1999-03-03");
  EXPECT_THROW(DateGenerator::format({2026, 2, 30}, 0), qkv::Error);
  EXPECT_THROW(DateGenerator::format(d, DateGenerator::num_formats()), qkv::Error);
}

// No string denotes two different dates, across every format, case and padding
// (checked on years where two-digit years and day/month orders could collide).
TEST(DatesTest, NoStringDenotesTwoDates) {
  std::map<std::string, int64_t> seen;
  for (int year : {1950, 1999, 2000, 2001, 2012, 2049}) {
    for (int64_t d = qkv::data::days_from_civil({year, 1, 1}); d <= qkv::data::days_from_civil({year, 12, 31}); ++d) {
      Date date = qkv::data::civil_from_days(d);
      for (int f = 0; f < DateGenerator::num_formats(); ++f)
        for (int cs = 0; cs < 3; ++cs)
          for (bool pad : {false, true}) {
            std::string s = DateGenerator::format(date, f, cs, pad);
            std::string key = s;
            for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto [it, inserted] = seen.emplace(key, d);
            ASSERT_TRUE(inserted || it->second == d) << "'" << s << "' denotes two dates";
          }
    }
  }
}

TEST(DatesTest, GeneratorIsDeterministicAndSplitIsDisjoint) {
  DateGenerator gen(42);
  qkv::Rng r1(7), r2(7);
  auto a = gen.sample(r1, Split::train, 200);
  auto b = gen.sample(r2, Split::train, 200);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].human, b[i].human);
    ASSERT_EQ(a[i].iso, b[i].iso);
  }
  qkv::Rng r3(8);
  auto train = gen.sample(r3, Split::train, 5000);
  auto held = gen.sample(r3, Split::heldout, 2000);
  std::set<std::string> train_iso;
  std::set<int> formats;
  for (auto& p : train) {
    train_iso.insert(p.iso);
    formats.insert(p.format);
    EXPECT_EQ(gen.split_of(p.date), Split::train);
    EXPECT_EQ(qkv::data::iso(p.date), p.iso);
  }
  EXPECT_EQ(static_cast<int>(formats.size()), DateGenerator::num_formats());
  for (auto& p : held) {
    EXPECT_EQ(train_iso.count(p.iso), 0u) << p.iso;
    EXPECT_GE(p.date.year, 1950);
    EXPECT_LE(p.date.year, 2049);
  }
  // About 10% of all dates are held out.
  int64_t lo = qkv::data::days_from_civil({1950, 1, 1}), hi = qkv::data::days_from_civil({2049, 12, 31});
  int64_t n_held = 0;
  for (int64_t d = lo; d <= hi; ++d) n_held += gen.split_of(qkv::data::civil_from_days(d)) == Split::heldout;
  double frac = static_cast<double>(n_held) / static_cast<double>(hi - lo + 1);
  EXPECT_NEAR(frac, 0.1, 0.01);
  // Another split seed holds out other dates.
  DateGenerator other(43);
  int64_t differ = 0;
  for (int64_t d = lo; d < lo + 2000; ++d) {
    Date c = qkv::data::civil_from_days(d);
    differ += gen.split_of(c) != other.split_of(c);
  }
  EXPECT_GT(differ, 100);
}

TEST(DatesTest, VocabularyEncodesEveryGeneratedStringAndBatchesPad) {
  DateGenerator gen(1);
  qkv::data::CharVocab vocab;
  qkv::Rng rng(3);
  auto pairs = gen.sample(rng, Split::train, 500);
  size_t longest = 0;
  for (auto& p : pairs) {
    auto ids = vocab.encode(p.human);
    EXPECT_EQ(vocab.decode(ids), p.human);
    longest = std::max(longest, p.human.size());
  }
  EXPECT_LE(longest, 32u);
  std::vector<qkv::data::DatePair> few(pairs.begin(), pairs.begin() + 4);
  auto batch = qkv::data::make_batch(vocab, few);
  EXPECT_EQ(batch.tgt_in.shape(), (qkv::Shape{4, 11}));
  for (int64_t b = 0; b < 4; ++b) {
    const std::string& h = few[static_cast<size_t>(b)].human;
    EXPECT_EQ(batch.src_lens[b], static_cast<int64_t>(h.size()));
    for (int64_t i = static_cast<int64_t>(h.size()); i < batch.src.dim(1); ++i) EXPECT_EQ(batch.src.at({b, i}), 0);
    EXPECT_EQ(batch.tgt_in.at({b, 0}), qkv::data::CharVocab::bos);
    EXPECT_EQ(batch.tgt_out.at({b, 10}), qkv::data::CharVocab::eos);
    EXPECT_EQ(batch.tgt_in.at({b, 1}), batch.tgt_out.at({b, 0}));
  }
  EXPECT_THROW(vocab.encode("3 März 1999"), qkv::Error);
  EXPECT_THROW(DateGenerator(1, 0.0), qkv::Error);
}

}  // namespace
