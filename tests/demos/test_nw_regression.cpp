// `qkv nw`: the estimators behave as the worked example says (non-parametric beats average
// pooling, the learned width sharpens the weights), the width's gradient matches finite
// differences, and the command runs end to end and writes valid PNGs of the expected size.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "qkv/demos/nw_regression.h"
#include "qkv/pictures/image.h"

namespace fs = std::filesystem;
using namespace qkv;

namespace {

std::string run_command(const std::string& cmd, int* status) {
  std::array<char, 4096> buf{};
  std::string out;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) {
    *status = -1;
    return out;
  }
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  *status = pclose(pipe);
  return out;
}

}  // namespace

TEST(DemoNw, NonparametricBeatsAverageAndParametricIsSharper) {
  for (uint64_t seed : {0ull, 1ull, 2ull, 3ull, 4ull}) {
    demos::NwOptions o;
    o.seed = seed;
    std::ostringstream log;
    demos::NwResult r = demos::run_nw(o, log);
    EXPECT_LT(r.mse_nonparametric, r.mse_average) << "seed " << seed;
    EXPECT_GT(demos::mean_max_weight(r.weights_parametric), demos::mean_max_weight(r.weights_nonparametric))
        << "seed " << seed;
    EXPECT_GT(r.w, 1.0) << "seed " << seed;
    // Every row of both weight matrices is a distribution.
    for (const TensorF* w : {&r.weights_nonparametric, &r.weights_parametric}) {
      ASSERT_EQ(w->shape(), (Shape{50, 50}));
      for (int64_t i = 0; i < 50; ++i) {
        double s = 0;
        for (int64_t j = 0; j < 50; ++j) s += w->at({i, j});
        EXPECT_NEAR(s, 1.0, 1e-5);
      }
    }
    // The last line is the summary with the printed numbers.
    std::string text = log.str();
    auto last = text.substr(text.rfind("mse average="));
    EXPECT_EQ(last.back(), '\n');
    EXPECT_NE(last.find(" nonparametric="), std::string::npos);
    EXPECT_NE(last.find(" parametric="), std::string::npos);
    EXPECT_NE(last.find(" w="), std::string::npos);
  }
}

TEST(DemoNw, LeaveOneOutLossDecreasesWithSgd) {
  demos::NwOptions o;
  o.epochs = 5;
  o.w_init = 4.0;
  o.lr = 0.1;
  std::ostringstream log;
  demos::NwResult r = demos::run_nw(o, log);
  ASSERT_EQ(r.losses.size(), 5u);
  auto d = demos::make_nw_data(o);
  EXPECT_LT(r.losses.back(), demos::nw_loo_loss(d.x_train, d.y_train, 4.0));
}

TEST(DemoNw, WidthGradientMatchesFiniteDifferences) {
  demos::NwOptions o;
  o.n_train = 20;
  auto d = demos::make_nw_data(o);
  TensorD x = d.x_train.cast<double>(), y = d.y_train.cast<double>();
  for (double w : {0.3, 1.0, 2.5, 7.0}) {
    double dw = 0;
    demos::nw_loo_loss(x, y, w, &dw);
    const double eps = 1e-6;
    double numeric = (demos::nw_loo_loss(x, y, w + eps) - demos::nw_loo_loss(x, y, w - eps)) / (2 * eps);
    EXPECT_NEAR(dw, numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << "w = " << w;
  }
}

TEST(DemoNw, HostileOptionsThrow) {
  std::ostringstream log;
  demos::NwOptions o;
  o.n_train = 1;
  EXPECT_THROW(demos::run_nw(o, log), qkv::Error);
  o = {};
  o.noise = -1;
  EXPECT_THROW(demos::run_nw(o, log), qkv::Error);
  o = {};
  o.x_max = 0;
  EXPECT_THROW(demos::run_nw(o, log), qkv::Error);
  o = {};
  o.lr = -0.1;
  EXPECT_THROW(demos::run_nw(o, log), qkv::Error);
  o = {};
  o.w_init = std::nan("");
  EXPECT_THROW(demos::run_nw(o, log), qkv::Error);
}

TEST(DemoNw, CommandWritesPngsOfTheExpectedSize) {
  fs::path dir = fs::temp_directory_path() / ("qkv_test_nw_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  int status = 0;
  std::string out = run_command(std::string(QKV_CLI_PATH) + " nw --train 30 --test 25 --epochs 3 --seed 4 --width 640 "
                                    "--height 400 --out " + dir.string(), &status);
  ASSERT_EQ(status, 0) << out;
  auto nl = out.find_last_not_of('\n');
  std::string last = out.substr(out.rfind('\n', nl) + 1);
  EXPECT_EQ(last.rfind("mse average=", 0), 0u) << out;
  pictures::Image fit = pictures::read_png((dir / "nw_fit.png").string());
  EXPECT_EQ(fit.width, 640);
  EXPECT_EQ(fit.height, 400);
  pictures::Image weights = pictures::read_png((dir / "nw_weights.png").string());
  // The same figure rendered in-process for the same options has the same size.
  demos::NwOptions o;
  o.n_train = 30;
  o.n_test = 25;
  o.epochs = 3;
  o.seed = 4;
  std::ostringstream log;
  pictures::Image expected = demos::nw_weights_figure(demos::run_nw(o, log), o);
  EXPECT_EQ(weights.width, expected.width);
  EXPECT_EQ(weights.height, expected.height);
  EXPECT_GT(weights.width, 2 * 25);
  fs::remove_all(dir);

  run_command(std::string(QKV_CLI_PATH) + " nw --train 1", &status);
  EXPECT_NE(status, 0);
}
