// The conv2d op through the op harness: the reference's gradients (dx, dw, db) against float64
// finite differences, and the float backend (im2col + oneDNN) at 1 and 2 threads against the
// reference on odd shapes (strides 1–3, padding 0–2, kernels 1–5, non-square inputs, no bias);
// the shape's checks name the bad field.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/core/error.h"
#include "qkv/ops/conv2d/conv2d.h"
#include "qkv/ops/conv2d/conv2d_reference.h"

using namespace qkv;
using test::Named;

namespace {

struct ConvCase {
  Conv2dShape s;
  bool bias = true;
  double fd_tol = 0;
  std::map<std::string, double> rtol = {{"y", 1e-5}, {"dx", 1e-5}, {"dw", 1e-5}, {"db", 1e-5}};
  std::string name() const {
    return std::to_string(s.batch) + "x" + std::to_string(s.in_channels) + "x" + std::to_string(s.height) + "x" +
           std::to_string(s.width) + " → " + std::to_string(s.out_channels) + " k" + std::to_string(s.kernel) + " s" +
           std::to_string(s.stride) + " p" + std::to_string(s.padding) + (bias ? " bias" : "");
  }
};

Shape x_shape(const Conv2dShape& s) { return {s.batch, s.in_channels, s.height, s.width}; }
Shape w_shape(const Conv2dShape& s) { return {s.out_channels, s.in_channels, s.kernel, s.kernel}; }
Shape y_shape(const Conv2dShape& s) { return {s.batch, s.out_channels, s.out_height(), s.out_width()}; }

template <typename T, bool kReference>
Named run(const ConvCase& c, const Named& in, const Named& up) {
  const Conv2dShape& s = c.s;
  const Tensor<T> x = in.at("x").cast<T>(), w = in.at("w").cast<T>(), dy = up.at("y").cast<T>();
  const Tensor<T> b = c.bias ? in.at("b").cast<T>() : Tensor<T>();
  Tensor<T> y(y_shape(s)), dx(x_shape(s)), dw = Tensor<T>::full(w_shape(s), T(0)),
                                           db = Tensor<T>::full({s.out_channels}, T(0));
  const T* bp = c.bias ? b.data() : nullptr;
  T* dbp = c.bias ? db.data() : nullptr;
  if constexpr (kReference) {
    conv2d_reference_forward(s, x.data(), w.data(), bp, y.data());
    conv2d_reference_backward(s, dy.data(), x.data(), w.data(), dx.data(), dw.data(), dbp);
  } else {
    Tensor<T> scratch({s.scratch_size()});
    conv2d_forward(s, x.data(), w.data(), bp, y.data(), scratch.data());
    conv2d_backward(s, dy.data(), x.data(), w.data(), dx.data(), dw.data(), dbp, scratch.data());
  }
  Named out = {{"y", y.template cast<double>()}, {"dx", dx.template cast<double>()}, {"dw", dw.template cast<double>()}};
  if (c.bias) out["db"] = db.template cast<double>();
  return out;
}

Named inputs(const ConvCase& c) {
  Rng r(static_cast<uint64_t>(c.s.height * 131 + c.s.in_channels * 7 + c.s.kernel));
  Named in = {{"x", test::randn(x_shape(c.s), r)}, {"w", test::randn(w_shape(c.s), r, 0.5)}};
  if (c.bias) in["b"] = test::randn({c.s.out_channels}, r);
  return in;
}

Named upstream(const ConvCase& c) {
  Rng r(static_cast<uint64_t>(c.s.out_channels + 1));
  return {{"y", test::randn(y_shape(c.s), r)}};
}

Conv2dShape shape(int64_t B, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, int64_t stride, int64_t pad) {
  return Conv2dShape{B, C, H, W, O, k, stride, pad};
}

}  // namespace

TEST(OpConv2d, ReferenceGradientsAndFloatBackend) {
  test::OpHarness<ConvCase> h;
  h.cases = {{shape(2, 2, 5, 4, 3, 3, 1, 1), true, 1e-6},
             {shape(1, 3, 6, 7, 2, 3, 2, 1), false, 1e-6},
             {shape(2, 1, 4, 4, 2, 2, 2, 0), true, 1e-6},
             {shape(1, 2, 5, 5, 1, 1, 1, 0), true, 1e-6},
             {shape(3, 1, 28, 28, 24, 3, 1, 1)},
             {shape(2, 24, 28, 28, 48, 3, 2, 1)},
             {shape(3, 48, 14, 14, 64, 3, 2, 1), false},
             {shape(2, 5, 13, 11, 7, 5, 3, 2)},
             {shape(2, 1, 28, 28, 16, 7, 7, 0)}};
  h.inputs = inputs;
  h.upstream = upstream;
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

// A stride-p, p×p convolution without padding is the ViT's patch embedding: per patch, a linear
// map of its C·p·p pixels. The reference says so too.
TEST(OpConv2d, PatchifyEqualsPerPatchLinearMap) {
  const Conv2dShape s = shape(2, 1, 8, 8, 3, 4, 4, 0);
  Rng r(5);
  const TensorD x = test::randn(x_shape(s), r), w = test::randn(w_shape(s), r);
  TensorD y(y_shape(s));
  conv2d_reference_forward<double>(s, x.data(), w.data(), nullptr, y.data());
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t o = 0; o < 3; ++o)
      for (int64_t gy = 0; gy < 2; ++gy)
        for (int64_t gx = 0; gx < 2; ++gx) {
          double acc = 0;
          for (int64_t u = 0; u < 4; ++u)
            for (int64_t v = 0; v < 4; ++v) acc += w.at({o, 0, u, v}) * x.at({n, 0, gy * 4 + u, gx * 4 + v});
          EXPECT_NEAR(y.at({n, o, gy, gx}), acc, 1e-12);
        }
}

TEST(OpConv2d, ShapeChecksNameTheField) {
  auto message = [](const Conv2dShape& s) {
    try {
      s.validate("conv");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message(shape(1, 1, 5, 5, 1, 3, 1, 1)), "");
  EXPECT_NE(message(shape(0, 1, 5, 5, 1, 3, 1, 1)).find("batch=0"), std::string::npos);
  EXPECT_NE(message(shape(1, 1, 5, 5, 1, 3, 0, 1)).find("stride=0"), std::string::npos);
  EXPECT_NE(message(shape(1, 1, 5, 5, 1, 3, 1, 3)).find("padding=3"), std::string::npos);
  EXPECT_NE(message(shape(1, 1, 2, 2, 1, 5, 1, 1)).find("kernel=5"), std::string::npos);
}
