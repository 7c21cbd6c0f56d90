// The bfloat16 backward (flash_bf16_backward.h) through the op harness: sdpa_forward and
// sdpa_backward on Tensor<bf16> on every Highway target compiled in (the AVX-512 ones run the
// vdpbf16ps kernel where the CPU has AVX512-BF16, the others widen to float32) and at 1 and 2
// threads, against the one reference run on the same numbers: q, k, v and dout are bf16-rounded
// before either sees them, so the only extra error of the native kernel is the bf16 rounding of
// P and dS before their products (relative 2^-9 per element; the tolerances are 1.5e-2 of the
// largest gradient, as the native forward's out).
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include "op_harness.h"
#include "ops/sdpa/flash_test_util.h"
#include "qkv/core/parallel.h"
#include "qkv/ops/sdpa/flash_adapter.h"
#include "qkv/ops/sdpa/flash_bf16_backward.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/sdpa_range.h"

using namespace qkv;
using test::Named;

namespace {

struct Bf16BackwardCase {
  std::string label;
  int64_t B, H, Lq, Lk, d, dv;
  AttentionMask mask;
  double dropout = 0.0;
  double fd_tol = 0.0;  // the reference's gradients are checked by test_sdpa_harness.cpp
  std::map<std::string, double> rtol = {{"out", 1.5e-2}, {"lse", 1e-5}, {"dq", 1.5e-2}, {"dk", 1.5e-2},
                                        {"dv", 1.5e-2}};
  std::string name() const { return label; }
};

TensorD bf16_rounded(const TensorD& t) {
  TensorD out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<double>(static_cast<float>(bf16(static_cast<float>(t[i]))));
  return out;
}

Tensor<bf16> to_bf16(const TensorD& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(static_cast<float>(t[i]));
  return out;
}

Named run_reference(const Bf16BackwardCase& c, const Named& in, const Named& up) {
  SdpaOptions options;
  options.dropout_p = c.dropout;
  options.dropout_seed = 7;
  const TensorD q = in.at("q"), k = in.at("k"), v = in.at("v");
  const SdpaForward<double> f = sdpa_forward(q, k, v, c.mask, options, AttentionBackend::reference);
  const SdpaGrads<double> g = sdpa_backward(up.at("out"), q, k, v, f, c.mask, options, AttentionBackend::reference);
  return {{"out", f.out}, {"lse", f.lse}, {"dq", g.dq}, {"dk", g.dk}, {"dv", g.dv}};
}

Named run_bf16(const Bf16BackwardCase& c, const Named& in, const Named& up) {
  SdpaOptions options;
  options.dropout_p = c.dropout;
  options.dropout_seed = 7;
  const Tensor<bf16> q = to_bf16(in.at("q")), k = to_bf16(in.at("k")), v = to_bf16(in.at("v"));
  const SdpaForward<float> f = sdpa_forward(q, k, v, c.mask, options);
  const SdpaGrads<float> g = sdpa_backward(up.at("out").cast<float>(), q, k, v, f, c.mask, options);
  return {{"out", f.out.cast<double>()}, {"lse", f.lse.cast<double>()}, {"dq", g.dq.cast<double>()},
          {"dk", g.dk.cast<double>()},   {"dv", g.dv.cast<double>()}};
}

std::vector<Bf16BackwardCase> cases() {
  AttentionMask top_left, bottom_right, lens, lens_bq, allowed_bias;
  top_left.causal = Causal::top_left;
  bottom_right.causal = Causal::bottom_right;
  lens.valid_lens = TensorI::from({2}, {0, 70});
  lens_bq.valid_lens = TensorI::from({1, 5}, {3, 0, 7, 1, 6});
  Rng rng(31);
  allowed_bias.allowed = TensorB({2, 1, 45, 71});
  allowed_bias.bias = TensorF({1, 2, 45, 71});
  for (int64_t i = 0; i < allowed_bias.allowed.numel(); ++i) allowed_bias.allowed[i] = rng.uniform() < 0.8;
  for (int64_t i = 0; i < allowed_bias.bias.numel(); ++i) allowed_bias.bias[i] = static_cast<float>(rng.normal());
  return {{"d 64, Lq != Lk, several key blocks", 1, 2, 200, 150, 64, 64, {}},
          {"d 128, causal bottom-right", 1, 2, 130, 197, 128, 128, bottom_right},
          {"d 32, dv 48, causal top-left, Lq > kQB", 2, 1, 211, 90, 32, 48, top_left},
          {"odd widths d 7, dv 33, odd lengths", 2, 2, 37, 65, 7, 33, bottom_right},
          {"d 1, dv 1", 1, 1, 9, 5, 1, 1, {}},
          {"valid lengths (B,), a fully masked batch", 2, 2, 45, 71, 16, 16, lens},
          {"valid lengths (B, Lq), fully masked rows", 1, 2, 5, 7, 20, 12, lens_bq},
          {"allowed + bias", 2, 2, 45, 71, 32, 32, allowed_bias},
          {"dropout", 1, 2, 57, 70, 32, 16, top_left, 0.3}};
}

}  // namespace

TEST(FlashBf16Backward, HarnessEveryTargetAndThreadCount) {
  test::OpHarness<Bf16BackwardCase> h;
  h.cases = cases();
  h.inputs = [](const Bf16BackwardCase& c) {
    Rng rng(static_cast<uint64_t>(c.Lq * 131 + c.Lk));
    return Named{{"q", bf16_rounded(test::randn({c.B, c.H, c.Lq, c.d}, rng))},
                 {"k", bf16_rounded(test::randn({c.B, c.H, c.Lk, c.d}, rng))},
                 {"v", bf16_rounded(test::randn({c.B, c.H, c.Lk, c.dv}, rng))}};
  };
  h.upstream = [](const Bf16BackwardCase& c) {
    Rng rng(static_cast<uint64_t>(c.Lq * 7 + c.Lk));
    return Named{{"out", bf16_rounded(test::randn({c.B, c.H, c.Lq, c.dv}, rng))}};
  };
  h.reference = run_reference;
  h.fast = run_bf16;
  h.run();
}

// Asking for the native backward where it does not run (a CPU without AVX512-BF16, or a SIMD
// target below AVX-512 forced here) is an error that says why; the widened kernel runs anywhere.
TEST(FlashBf16Backward, NativeKernelOnlyWhereTheCpuHasIt) {
  const Tensor<bf16> q = to_bf16(bf16_rounded(TensorD::from({1, 1, 2, 2}, {0.5, -1, 0.25, 2})));
  const TensorF out({1, 1, 2, 2}), dout = TensorF::from({1, 1, 2, 2}, {1, 0, 0, 1});
  const TensorF lse = TensorF::from({1, 1, 2}, {0.7f, 0.9f});
  TensorF dq({1, 1, 2, 2}), dk({1, 1, 2, 2}), dv({1, 1, 2, 2});
  const kernels::FlashDims dm{1, 1, 2, 2, 2, 2};
  const kernels::FlashInBf16 qv{reinterpret_cast<const uint16_t*>(q.data()), 4, 4, 2};
  const kernels::FlashIn ov{out.data(), 4, 4, 2}, dov{dout.data(), 4, 4, 2};
  auto run = [&](kernels::Bf16Kernel kernel) {
    kernels::flash_backward_bf16_with(kernel, dm, 1.0f, qv, qv, qv, ov, dov, lse.data(), {}, dq.data(), dk.data(),
                                      dv.data());
  };
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(target));
    run(kernels::Bf16Kernel::widened);
    EXPECT_TRUE(all_finite_values(dq) && all_finite_values(dk) && all_finite_values(dv));
  }
  hwy::SetSupportedTargetsForTest(0);
  flash_test::expect_native_refused_where_unavailable([&] { run(kernels::Bf16Kernel::native); });
}
