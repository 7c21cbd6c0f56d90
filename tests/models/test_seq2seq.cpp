// The attention encoder–decoder: float64 gradients of the whole model against finite
// differences, padding invariance, a learning check (reverse short sequences), and the
// `qkv seq2seq` command end to end (model saved and reloaded, PNG of the expected size).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "qkv/core/parallel.h"
#include "qkv/demos/seq2seq_dates.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/image.h"
#include "qkv/models/seq2seq.h"
#include "qkv/train/adamw.h"
#include "qkv/train/cross_entropy.h"

namespace {

using qkv::Rng;
using qkv::TensorD;
using qkv::TensorF;
using qkv::TensorI;
using qkv::models::Seq2Seq;
using qkv::models::Seq2SeqConfig;

TEST(Seq2SeqTest, GradientsMatchFiniteDifferencesFloat64) {
  Rng rng(11);
  Seq2SeqConfig cfg{7, 3, 4, 5};
  Seq2Seq<double> model(cfg, rng);
  TensorI src = TensorI::from({2, 5}, {3, 4, 5, 6, 3, 4, 6, 5, 0, 0});
  TensorI lens = TensorI::from({2}, {5, 3});
  TensorI tgt = TensorI::from({2, 3}, {1, 3, 4, 1, 6, 6});
  TensorD w({2, 3, 7});
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = rng.normal();
  auto loss = [&] {
    const TensorD& y = model.forward(src, lens, tgt);
    double s = 0;
    for (int64_t i = 0; i < y.numel(); ++i) s += w[i] * y[i];
    return s;
  };
  loss();
  model.zero_grad();
  model.backward(w);
  const double eps = 1e-6;
  for (auto& [name, p] : model.named_parameters()) {
    TensorD analytic = p->grad.clone();
    double worst = 0, scale = 1e-12;
    for (int64_t i = 0; i < p->value.numel(); ++i) {
      double keep = p->value[i];
      p->value[i] = keep + eps;
      double up = loss();
      p->value[i] = keep - eps;
      double down = loss();
      p->value[i] = keep;
      double numeric = (up - down) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - analytic[i]));
      scale = std::max(scale, std::abs(numeric));
    }
    EXPECT_LT(worst, 1e-6 * scale + 1e-8) << name << ": max abs error " << worst << " (largest " << scale << ")";
  }
}

TEST(Seq2SeqTest, PaddingDoesNotChangeTheOutput) {
  Rng rng(12);
  Seq2Seq<double> model({9, 4, 6, 5}, rng);
  TensorI lens = TensorI::from({2}, {4, 2});
  TensorI tgt = TensorI::from({2, 4}, {1, 3, 4, 5, 1, 8, 7, 6});
  TensorI a = TensorI::from({2, 6}, {3, 4, 5, 6, 0, 0, 7, 8, 0, 0, 0, 0});
  TensorI b = TensorI::from({2, 6}, {3, 4, 5, 6, 8, 7, 7, 8, 3, 4, 5, 6});
  TensorD ya = model.forward(a, lens, tgt).clone();
  TensorD wa = model.attention_weights().clone();
  TensorD yb = model.forward(b, lens, tgt).clone();
  for (int64_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(ya[i], yb[i], 1e-12);
  for (int64_t t = 0; t < 4; ++t) {
    double sum = 0;
    for (int64_t j = 0; j < 6; ++j) sum += wa.at({1, t, j});
    EXPECT_NEAR(sum, 1.0, 1e-12);
    for (int64_t j = 2; j < 6; ++j) EXPECT_EQ(wa.at({1, t, j}), 0.0) << "padding key " << j << " was attended";
  }
  // Greedy decoding agrees with teacher forcing when fed its own predictions.
  auto g = model.greedy(a, lens, 3, 1, 2);
  EXPECT_EQ(g.tokens.shape(), (qkv::Shape{2, 3}));
  EXPECT_EQ(g.weights.shape(), (qkv::Shape{2, 3, 6}));
}

TEST(Seq2SeqTest, RejectsBadInputs) {
  Rng rng(13);
  Seq2Seq<float> model({9, 4, 6, 5}, rng);
  TensorI src = TensorI::from({1, 3}, {3, 4, 5});
  TensorI tgt = TensorI::from({1, 2}, {1, 3});
  EXPECT_THROW(model.forward(src, TensorI::from({1}, {4}), tgt), qkv::Error);   // length > Ls
  EXPECT_THROW(model.forward(src, TensorI::from({1}, {0}), tgt), qkv::Error);   // empty source
  EXPECT_THROW(model.forward(src, TensorI::from({2}, {3, 3}), tgt), qkv::Error);
  EXPECT_THROW(model.forward(TensorI::from({1, 3}, {3, 4, 9}), TensorI::from({1}, {3}), tgt), qkv::Error);
  EXPECT_THROW(model.backward(TensorF({1, 2, 9})), qkv::Error);  // before forward
  model.forward(src, TensorI::from({1}, {3}), tgt);
  EXPECT_THROW(model.backward(TensorF({1, 3, 9})), qkv::Error);
  EXPECT_THROW(model.greedy(src, TensorI::from({1}, {3}), 0, 1, 2), qkv::Error);
  EXPECT_THROW(Seq2Seq<float>({9, 0, 6, 5}, rng), qkv::Error);
}

// A tiny model learns to reverse sequences of 5 symbols (chance: 6^-5 for a whole sequence),
// which it can only do by attending to the right source position at each step.
TEST(Seq2SeqTest, LearnsToReverseShortSequences) {
  // One thread: the products here are tiny, and the run is then bit-for-bit reproducible.
  const int threads = qkv::num_threads();
  qkv::set_num_threads(1);
  Rng rng(14);
  const int64_t V = 9, B = 32, L = 5;  // ids 3..8 are symbols; 1 <bos>, 2 <eos>
  Seq2Seq<float> model({V, 16, 32, 32}, rng);
  qkv::train::AdamWOptions ao;
  ao.lr = 1e-2;
  qkv::train::AdamW<float> opt(model.named_parameters(), ao);
  auto make = [&](Rng& r, int64_t n, TensorI& src, TensorI& lens, TensorI& tin, TensorI& tout) {
    src = TensorI({n, L});
    lens = TensorI::full({n}, L);
    tin = TensorI({n, L + 1});
    tout = TensorI({n, L + 1});
    for (int64_t b = 0; b < n; ++b) {
      tin.at({b, 0}) = 1;
      for (int64_t i = 0; i < L; ++i) src.at({b, i}) = 3 + static_cast<int64_t>(r.below(6));
      for (int64_t i = 0; i < L; ++i) {
        tout.at({b, i}) = src.at({b, L - 1 - i});
        tin.at({b, i + 1}) = tout.at({b, i});
      }
      tout.at({b, L}) = 2;
    }
  };
  TensorI src, lens, tin, tout;
  TensorF dlogits;
  for (int step = 0; step < 400; ++step) {
    make(rng, B, src, lens, tin, tout);
    const TensorF& y = model.forward(src, lens, tin);
    qkv::train::cross_entropy(y.view({B * (L + 1), V}), tout.view({B * (L + 1)}), &dlogits);
    model.zero_grad();
    model.backward(dlogits.view(y.shape()));
    qkv::train::clip_grad_norm(opt.params(), 1.0);
    opt.step();
  }
  Rng test_rng(99);
  make(test_rng, 200, src, lens, tin, tout);
  auto g = model.greedy(src, lens, L + 1, 1, 2);
  int64_t exact = 0;
  for (int64_t b = 0; b < 200; ++b) {
    bool ok = true;
    for (int64_t i = 0; i <= L; ++i) ok = ok && g.tokens.at({b, i}) == tout.at({b, i});
    exact += ok;
  }
  EXPECT_GE(exact, 180) << "exact reversals out of 200";
  // Step i attends most to source position L-1-i.
  int64_t aligned = 0;
  for (int64_t b = 0; b < 200; ++b)
    for (int64_t i = 0; i < L; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < L; ++j)
        if (g.weights.at({b, i, j}) > g.weights.at({b, i, best})) best = j;
      aligned += best == L - 1 - i;
    }
  EXPECT_GE(aligned, 800) << "steps attending most to the mirrored position, out of 1000";
  qkv::set_num_threads(threads);
}

// Where does the output's year look? Trains a small date translator (a few seconds) and checks
// that for each of the four year characters of the output, the most attended input character
// is one of the year's characters in the input.
TEST(Seq2SeqTest, YearDigitsOfTheOutputAttendToTheYearInTheInput) {
  auto dir = std::filesystem::temp_directory_path() / ("qkv_seq2seq_year_" + std::to_string(::getpid()));
  qkv::demos::Seq2SeqDatesOptions o;
  o.embed = 16;
  o.hidden = 32;
  o.attention = 16;
  o.training.batch = 32;
  o.training.steps = 450;
  o.training.lr = 1e-2;
  o.eval_size = 100;
  o.training.log_every = 0;
  o.examples = 0;
  o.seed = 5;
  o.out_dir = dir.string();
  std::ostringstream log;
  auto result = qkv::demos::run_seq2seq_dates(o, log);
  EXPECT_GT(result.exact_match, 0.3) << log.str();  // chance is about 1e-7
  auto model = qkv::models::load_seq2seq(dir.string(), qkv::data::CharVocab().size());
  // Single translations are products of one row: one thread avoids waking a second for each.
  const int threads = qkv::num_threads();
  qkv::set_num_threads(1);
  qkv::data::CharVocab vocab;
  qkv::data::DateGenerator gen(o.seed);
  qkv::Rng rng(77);
  int64_t rows = 0, on_year = 0;
  auto check = [&](const std::string& text, size_t year_begin, size_t year_len, bool strict) {
    auto t = qkv::demos::translate(*model, vocab, text);
    ASSERT_GE(t.weights.dim(0), 4) << text;
    for (int64_t i = 0; i < 4; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < t.weights.dim(1); ++j)
        if (t.weights.at({i, j}) > t.weights.at({i, best})) best = j;
      bool hit = best >= static_cast<int64_t>(year_begin) && best < static_cast<int64_t>(year_begin + year_len);
      if (strict) EXPECT_TRUE(hit) << "\"" << text << "\": output year character " << i << " looks most at input "
                                   << best << " ('" << text[static_cast<size_t>(best)] << "')";
      ++rows;
      on_year += hit;
    }
  };
  check("3 March 1999", 8, 4, true);
  for (int n = 0; n < 60; ++n) {
    auto p = gen.sample(rng, qkv::data::Split::heldout);
    bool two_digit = p.format == 6 || p.format == 14;
    if (p.format == 8) {
      check(p.human, 0, 4, false);
    } else {
      size_t len = two_digit ? 2 : 4;
      check(p.human, p.human.size() - len, len, false);
    }
  }
  qkv::set_num_threads(threads);
  EXPECT_GE(static_cast<double>(on_year) / static_cast<double>(rows), 0.9) << on_year << " of " << rows;
  std::filesystem::remove_all(dir);
}

std::string run_command(const std::string& args) {
  std::string cmd = std::string(QKV_CLI_PATH) + " " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) out += "\n[exit status " + std::to_string(rc) + "]";
  return out;
}

TEST(Seq2SeqTest, CommandTrainsSavesTranslatesAndDraws) {
  auto dir = std::filesystem::temp_directory_path() / ("qkv_seq2seq_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string out = run_command("seq2seq --steps 20 --batch 16 --embed 8 --hidden 16 --attention 16 --eval-size 40 "
                                "--log-every 10 --warmup 2 --example \"3 March 1999\" --out " + dir.string());
  ASSERT_EQ(out.find("[exit status"), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("exact match: (0|1)\\.[0-9]{4}\\n$"))) << out;
  auto png = (dir / "alignment.png").string();
  ASSERT_TRUE(std::filesystem::exists(dir / "model.safetensors"));
  ASSERT_TRUE(std::filesystem::exists(png));
  qkv::pictures::Image img = qkv::pictures::read_png(png);
  // The same model, reloaded in this process, gives the same translation and the same figure size.
  auto model = qkv::models::load_seq2seq(dir.string(), qkv::data::CharVocab().size());
  qkv::data::CharVocab vocab;
  auto t = qkv::demos::translate(*model, vocab, "3 March 1999");
  EXPECT_EQ(t.weights.dim(1), 12);
  auto tmp = (dir / "again.png").string();
  qkv::demos::write_alignment_heatmap(tmp, t);
  qkv::pictures::Image again = qkv::pictures::read_png(tmp);
  EXPECT_EQ(img.width, again.width);
  EXPECT_EQ(img.height, again.height);
  EXPECT_GT(img.width, 200);
  EXPECT_GT(img.height, 100);
  std::string tr = run_command("seq2seq --translate \"3 March 1999\" --model " + dir.string());
  EXPECT_EQ(tr, t.output + "\n");
  // Hostile inputs: unknown characters, a missing model.
  std::string bad = run_command("seq2seq --translate \"3 März 1999\" --model " + dir.string());
  EXPECT_NE(bad.find("not in the vocabulary"), std::string::npos) << bad;
  std::string missing = run_command("seq2seq --translate \"3 March 1999\" --model " + (dir / "nope").string());
  EXPECT_NE(missing.find("does not exist"), std::string::npos) << missing;
  EXPECT_THROW(qkv::models::load_seq2seq((dir / "nope").string(), qkv::data::CharVocab().size()), qkv::FileError);
  std::filesystem::remove_all(dir);
}

}  // namespace
