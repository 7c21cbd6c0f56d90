// Rotary position embeddings: the rotation by hand, the relative-position property that is the
// point of RoPE, the two layouts, partial rotation, offsets for decoding, the gradient against
// float64 finite differences, float against double (also through the op harness), and hostile
// options.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradcheck.h"
#include "op_harness.h"
#include "qkv/ops/rotary/rotary.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

namespace {

// Σ_c a[b, h, i, c] · b[b, h, j, c]
double row_dot(const TensorD& a, int64_t i, const TensorD& b, int64_t j) {
  double s = 0;
  for (int64_t c = 0; c < a.dim(3); ++c) s += a.at({0, 0, i, c}) * b.at({0, 0, j, c});
  return s;
}

}  // namespace

TEST(AttentionRotary, RotatesEachPairByPositionTimesFrequency) {
  // d = 4, half-split: pairs (0, 2) with θ = 1 and (1, 3) with θ = base^(-1/2) = 0.01.
  TensorD x({1, 1, 3, 4});
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t c = 0; c < 4; ++c) x.at({0, 0, l, c}) = 1.0 + c + 10.0 * l;
  TensorD y = rotary_forward(x);
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t p = 0; p < 2; ++p) {
      const double a = l * (p == 0 ? 1.0 : 0.01);
      const double x1 = x.at({0, 0, l, p}), x2 = x.at({0, 0, l, p + 2});
      EXPECT_NEAR(y.at({0, 0, l, p}), x1 * std::cos(a) - x2 * std::sin(a), 1e-12) << "l=" << l << " p=" << p;
      EXPECT_NEAR(y.at({0, 0, l, p + 2}), x1 * std::sin(a) + x2 * std::cos(a), 1e-12) << "l=" << l << " p=" << p;
    }
  // Position 0 is the identity.
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(y.at({0, 0, 0, c}), x.at({0, 0, 0, c}));
}

TEST(AttentionRotary, ScoresDependOnlyOnRelativePosition) {
  Rng rng(3);
  for (bool interleaved : {false, true}) {
    // The same q and k vectors placed at positions (m, n) and (m + 17, n + 17).
    TensorD q = randn({1, 1, 1, 16}, rng), k = randn({1, 1, 1, 16}, rng);
    for (int64_t m : {0, 3, 40})
      for (int64_t n : {0, 5, 41}) {
        auto at = [&](const TensorD& t, int64_t pos) {
          RotaryOptions o;
          o.interleaved = interleaved;
          o.position_offsets = {pos};
          return rotary_forward(t, o);
        };
        const double near = row_dot(at(q, m), 0, at(k, n), 0);
        const double far = row_dot(at(q, m + 17), 0, at(k, n + 17), 0);
        EXPECT_NEAR(near, far, 1e-10) << "interleaved=" << interleaved << " m=" << m << " n=" << n;
      }
  }
}

TEST(AttentionRotary, InterleavedIsHalfSplitWithChannelsPermuted) {
  // Interleaved channel 2p (2p+1) plays half-split channel p (p + r/2).
  Rng rng(4);
  const int64_t d = 8;
  TensorD x = randn({2, 3, 5, d}, rng), xi(x.shape());
  auto perm = [&](int64_t c) { return c < d / 2 ? 2 * c : 2 * (c - d / 2) + 1; };
  for (int64_t row = 0; row < x.numel() / d; ++row)
    for (int64_t c = 0; c < d; ++c) xi[row * d + perm(c)] = x[row * d + c];
  RotaryOptions interleaved;
  interleaved.interleaved = true;
  TensorD y = rotary_forward(x), yi = rotary_forward(xi, interleaved);
  for (int64_t row = 0; row < x.numel() / d; ++row)
    for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(yi[row * d + perm(c)], y[row * d + c], 1e-12);
}

TEST(AttentionRotary, PartialRotationCopiesTheRestAndOffsetsShiftPositions) {
  Rng rng(5);
  TensorD x = randn({2, 2, 4, 10}, rng);
  RotaryOptions partial;
  partial.rotary_dim = 6;
  partial.position_offsets = {0, 7};
  TensorD y = rotary_forward(x, partial);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (i % 10 >= 6) EXPECT_EQ(y[i], x[i]);
  // Token 2 of batch 1 (offset 7) is at position 9: the same as that token rotated alone at offset 9.
  RotaryOptions at9;
  at9.rotary_dim = 6;
  at9.position_offsets = {9};
  TensorD one = rotary_forward(x.slice(0, 1, 2).slice(2, 2, 3).contiguous(), at9);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t c = 0; c < 10; ++c) EXPECT_NEAR(one.at({0, h, 0, c}), y.at({1, h, 2, c}), 1e-12);
}

TEST(AttentionRotary, BackwardMatchesFiniteDifferencesAndInvertsForward) {
  Rng rng(6);
  for (bool interleaved : {false, true})
    for (int64_t r : {0, 4}) {
      RotaryOptions o;
      o.interleaved = interleaved;
      o.rotary_dim = r;
      o.position_offsets = {2, 11};
      TensorD x = randn({2, 2, 3, 6}, rng), g = randn({2, 2, 3, 6}, rng);
      auto loss = [&] { return qkv::test::dot(rotary_forward(x, o), g); };
      const std::string what = std::string("dx interleaved=") + (interleaved ? "1" : "0") + " r=" + std::to_string(r);
      EXPECT_TRUE(grad_close(what, rotary_backward(g, o), numeric_grad(x, loss)));
      EXPECT_TRUE(tensors_close(what + " inverse", rotary_backward(rotary_forward(x, o), o), x, 1e-12));
    }
}

TEST(AttentionRotary, FloatMatchesDoubleOnStridedInput) {
  Rng rng(7);
  TensorD x = randn({2, 5, 3, 8}, rng);
  RotaryOptions o;
  o.position_offsets = {1000};
  TensorD yd = rotary_forward(x.transpose(1, 2).contiguous().transpose(1, 2), o);
  TensorF yf = rotary_forward(x.cast<float>().transpose(1, 2).contiguous().transpose(1, 2), o);
  EXPECT_TRUE(tensors_close("float vs double", yf.cast<double>(), yd, 1e-5));
}

TEST(AttentionRotary, HostileOptionsAreClearErrors) {
  TensorF x({1, 2, 3, 8});
  auto with = [&](auto set) {
    RotaryOptions o;
    set(o);
    return test::error_message_of([&] { rotary_forward(x, o); });
  };
  EXPECT_NE(with([](RotaryOptions& o) { o.rotary_dim = 5; }).find("rotary_dim=5"), std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.rotary_dim = 10; }).find("expected 0 (all of d) or an even number from 2 to d"),
            std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.rotary_dim = -2; }).find("rotary_dim=-2"), std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.base = 1.0; }).find("base=1"), std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.base = std::numeric_limits<double>::quiet_NaN(); }).find("base=nan"),
            std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.position_offsets = {1, 2, 3}; }).find("position_offsets has 3 values"),
            std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.position_offsets = {-1}; }).find("position offset -1"), std::string::npos);
  EXPECT_NE(with([](RotaryOptions& o) { o.position_offsets = {int64_t{1} << 62}; }).find("offset + L <= 2^40"),
            std::string::npos);
  EXPECT_NE(test::error_message_of([] { rotary_forward(TensorF({2, 3, 8})); }).find("rotary_forward"), std::string::npos);
  EXPECT_NE(test::error_message_of([] { rotary_backward(TensorF({1, 1, 2, 3})); }).find("d=3"), std::string::npos);
}

namespace {

struct RotaryCase {
  Shape shape;
  RotaryOptions options;
  double fd_tol = 1e-6;
  std::map<std::string, double> rtol = {{"y", 1e-6}, {"dx", 1e-6}};
  std::string name() const {
    return shape_str(shape) + " r=" + std::to_string(options.rotary_dim) +
           (options.interleaved ? " interleaved" : " half-split");
  }
};

template <typename T>
test::Named run_rotary(const RotaryCase& c, const test::Named& in, const test::Named& up) {
  return {{"y", rotary_forward(in.at("x").cast<T>(), c.options).template cast<double>()},
          {"dx", rotary_backward(up.at("y").cast<T>(), c.options).template cast<double>()}};
}

}  // namespace

TEST(AttentionRotary, HarnessReferenceGradientsAndFloat) {
  RotaryOptions half, interleaved_partial, long_offsets;
  interleaved_partial.interleaved = true;
  interleaved_partial.rotary_dim = 4;
  interleaved_partial.position_offsets = {2, 11};
  long_offsets.position_offsets = {1000};
  test::OpHarness<RotaryCase> h;
  h.cases = {{{2, 2, 3, 6}, half}, {{2, 2, 3, 6}, interleaved_partial}, {{1, 4, 130, 64}, long_offsets, 0}};
  h.inputs = [](const RotaryCase& c) {
    Rng rng(13);
    return test::Named{{"x", randn(c.shape, rng)}};
  };
  h.upstream = [](const RotaryCase& c) {
    Rng rng(14);
    return test::Named{{"y", randn(c.shape, rng)}};
  };
  h.reference = run_rotary<double>;
  h.fast = run_rotary<float>;
  h.run();
}
