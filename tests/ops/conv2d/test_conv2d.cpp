// The conv2d op through the op harness: the reference's gradients (dx, dw, db) against float64
// finite differences, and the float backend (oneDNN's convolution) at 1 and 2 threads against the
// reference on odd shapes (strides 1–3, padding 0–2, kernels 1–5, non-square inputs, batch 1,
// channel counts off oneDNN's blocks of 16, no bias); the float backend's contract (dx
// overwritten, dw and db accumulated), its bits run to run, and its calls from inside a parallel
// region (data-parallel replicas); the shape's checks name the bad field.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "op_harness.h"
#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
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
    conv2d_forward(s, x.data(), w.data(), bp, y.data());
    conv2d_backward(s, dy.data(), x.data(), w.data(), dx.data(), dw.data(), dbp);
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
             {shape(2, 1, 28, 28, 16, 7, 7, 0)},
             {shape(1, 17, 15, 9, 20, 3, 2, 1)},
             {shape(1, 3, 8, 8, 33, 3, 2, 1), false},
             {shape(4, 33, 7, 7, 5, 3, 1, 1)}};
  h.inputs = inputs;
  h.upstream = upstream;
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

namespace {

// The float backend's outputs for one case, computed into buffers that start as given: y and dx
// are overwritten, dw and db accumulate.
struct FloatRun {
  TensorF y, dx, dw, db;
};

FloatRun run_float(const Conv2dShape& s, const Named& in, const TensorF& dy, float start_dw, float start_db,
                   float start_dx) {
  const TensorF x = in.at("x").cast<float>(), w = in.at("w").cast<float>(), b = in.at("b").cast<float>();
  FloatRun r{TensorF::full(y_shape(s), start_dx), TensorF::full(x_shape(s), start_dx),
             TensorF::full(w_shape(s), start_dw), TensorF::full({s.out_channels}, start_db)};
  conv2d_forward(s, x.data(), w.data(), b.data(), r.y.data());
  conv2d_backward(s, dy.data(), x.data(), w.data(), r.dx.data(), r.dw.data(), r.db.data());
  return r;
}

bool same_bits(const TensorF& a, const TensorF& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}

void expect_same_bits(const FloatRun& a, const FloatRun& b) {
  EXPECT_TRUE(same_bits(a.y, b.y));
  EXPECT_TRUE(same_bits(a.dx, b.dx));
  EXPECT_TRUE(same_bits(a.dw, b.dw));
  EXPECT_TRUE(same_bits(a.db, b.db));
}

// The ViT's convolutional stem (--stem conv --stem-channels 24,48), one replica's shard.
const Conv2dShape kStem[] = {shape(16, 1, 28, 28, 24, 3, 1, 1), shape(16, 24, 28, 28, 48, 3, 2, 1),
                             shape(16, 48, 14, 14, 64, 3, 2, 1)};

ConvCase with_bias(const Conv2dShape& s) { return ConvCase{s, true}; }

}  // namespace

// Parameter gradients add to what dw and db hold (oneDNN overwrites its outputs: the backend adds
// them); dx and y are overwritten, whatever they held.
TEST(OpConv2d, FloatBackendAccumulatesDwDbAndOverwritesDx) {
  for (const Conv2dShape& s : {shape(2, 5, 13, 11, 7, 5, 3, 2), kStem[1]}) {
    SCOPED_TRACE(with_bias(s).name());
    const Named in = inputs(with_bias(s));
    const TensorF dy = upstream(with_bias(s)).at("y").cast<float>();
    const FloatRun fresh = run_float(s, in, dy, 0.0f, 0.0f, 0.0f);
    const FloatRun again = run_float(s, in, dy, 0.25f, -1.5f, std::nanf(""));
    EXPECT_TRUE(same_bits(again.y, fresh.y));
    EXPECT_TRUE(same_bits(again.dx, fresh.dx));
    for (int64_t i = 0; i < fresh.dw.numel(); ++i) ASSERT_EQ(again.dw[i], 0.25f + fresh.dw[i]) << "dw[" << i << "]";
    for (int64_t i = 0; i < fresh.db.numel(); ++i) ASSERT_EQ(again.db[i], -1.5f + fresh.db[i]) << "db[" << i << "]";
  }
}

// Without dx (the first layer's input needs no gradient) the parameter gradients are the same
// bits: backward-weights then reorders dy itself instead of reusing backward-data's copy.
TEST(OpConv2d, FloatBackendWithoutDxGivesTheSameParameterGradients) {
  for (const Conv2dShape& s : kStem) {
    SCOPED_TRACE(with_bias(s).name());
    const Named in = inputs(with_bias(s));
    const TensorF x = in.at("x").cast<float>(), w = in.at("w").cast<float>();
    const TensorF dy = upstream(with_bias(s)).at("y").cast<float>();
    const FloatRun with_dx = run_float(s, in, dy, 0.0f, 0.0f, 0.0f);
    TensorF dw(w_shape(s)), db({s.out_channels});
    conv2d_backward(s, dy.data(), x.data(), w.data(), static_cast<float*>(nullptr), dw.data(), db.data());
    EXPECT_TRUE(same_bits(dw, with_dx.dw));
    EXPECT_TRUE(same_bits(db, with_dx.db));
  }
}

// The same thread count gives the same bits, run after run (training resumes bit for bit).
TEST(OpConv2d, FloatBackendRepeatsBitForBit) {
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Conv2dShape& s : kStem) {
      SCOPED_TRACE(with_bias(s).name() + ", " + std::to_string(threads) + " thread(s)");
      const Named in = inputs(with_bias(s));
      const TensorF dy = upstream(with_bias(s)).at("y").cast<float>();
      const FloatRun first = run_float(s, in, dy, 0.0f, 0.0f, 0.0f);
      for (int repeat = 0; repeat < 2; ++repeat) expect_same_bits(run_float(s, in, dy, 0.0f, 0.0f, 0.0f), first);
    }
  }
  set_num_threads(saved);
}

// Data-parallel replicas call the op from the threads of a parallel region, where oneDNN runs
// on one thread: primitives first made there must be made for one thread (made for two, the
// backward's barrier waits forever), and give the bits of a one-thread call outside.
TEST(OpConv2d, FloatBackendInsideParallelRegionMatchesOneThread) {
  const int saved = num_threads();
  set_num_threads(2);
  // Shapes no other test uses, so their primitives are first made inside the region.
  const Conv2dShape shapes[] = {shape(6, 24, 20, 20, 48, 3, 2, 1), shape(6, 1, 20, 20, 24, 3, 1, 1)};
  for (const Conv2dShape& s : shapes) {
    SCOPED_TRACE(with_bias(s).name());
    const Named in = inputs(with_bias(s));
    const TensorF dy = upstream(with_bias(s)).at("y").cast<float>();
    std::vector<FloatRun> inside(2);
    parallel_workers(2, [&](int worker, int) { inside[static_cast<size_t>(worker)] = run_float(s, in, dy, 0, 0, 0); });
    set_num_threads(1);
    const FloatRun outside = run_float(s, in, dy, 0.0f, 0.0f, 0.0f);
    set_num_threads(2);
    for (const FloatRun& r : inside) expect_same_bits(r, outside);
  }
  set_num_threads(saved);
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
