// bfloat16 fused attention (sdpa_forward on Tensor<bf16>) against the double-precision twin evaluated on the
// same bf16-rounded inputs: the only extra error is the bf16 rounding of the weights before the
// product with V, so outputs agree to about 1e-2 of their scale and lse to float32 rounding.
#include <gtest/gtest.h>

#include "qkv/ops/sdpa/sdpa_bf16.h"
#include "qkv/core/parallel.h"
#include "qkv/ops/sdpa/flash.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

Tensor<bf16> to_bf16(const TensorF& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
  return out;
}

TensorF rounded(const TensorF& t) {
  TensorF out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(bf16(t[i]));
  return out;
}

void run_bf16(const Case& c) {
  SCOPED_TRACE(c.name() + (kernels::flash_bf16_native() ? " (AVX512-BF16)" : " (float32 fallback)"));
  Rng rng(static_cast<uint64_t>(c.Lq * 131 + c.Lk * 17 + c.d + int(c.mask)));
  TensorF q = rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
          v = rounded(randn({c.B, c.H, c.Lk, c.dv}, rng));
  AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
  SdpaOptions opt;
  opt.dropout_p = c.dropout;
  opt.dropout_seed = 99;
  opt.need_weights = c.weights;
  const int saved = num_threads();
  set_num_threads(c.threads);
  SdpaForward<float> fwd = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), mask, opt);
  set_num_threads(saved);
  Naive ref = naive_attention(q, k, v, TensorF({c.B, c.H, c.Lq, c.dv}), mask, opt);
  expect_close(fwd.out, ref.out, 1.5e-2, "out");
  expect_close(fwd.lse, ref.lse, 1e-5, "lse");
  if (c.weights) expect_close(fwd.weights, ref.weights, 1e-5, "weights");
}

TEST(FlashBf16, EveryHeadDim) {
  for (int64_t d : {16, 32, 48, 64, 80, 96, 128, 256}) run_bf16({1, 2, 77, 70, d, d, MaskKind::none, 2});
}

TEST(FlashBf16, OddWidthsAndLengths) {
  for (auto [d, dv] : std::vector<std::pair<int64_t, int64_t>>{{7, 33}, {33, 7}, {1, 1}, {64, 80}})
    for (int64_t L : {1, 63, 65, 129}) run_bf16({2, 1, L, L + 3, d, dv, MaskKind::causal_br, 1});
}

TEST(FlashBf16, EveryMaskKindAndDropout) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::causal_br, MaskKind::lens_b, MaskKind::lens_bq,
                     MaskKind::allowed, MaskKind::bias, MaskKind::combined}) {
    run_bf16({3, 2, 70, 90, 32, 48, m, 2, 0.0, true});
    run_bf16({2, 1, 50, 60, 16, 16, m, 1, 0.25, false});
  }
}

// The tile leaves q·k unscaled and the softmax applies scale·log2(e) unless the scale is <= 0 or a
// bias is added: both paths, with explicit scales of either sign and zero (uniform weights).
TEST(FlashBf16, ExplicitScalesOfEitherSign) {
  for (float scale : {0.3f, 0.0f, -0.45f})
    for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::bias}) {
      const Case c{1, 2, 40, 75, 32, 32, m, 2};
      SCOPED_TRACE(c.name() + " scale=" + std::to_string(scale));
      Rng rng(static_cast<uint64_t>(int(m) + 11));
      TensorF q = rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
              v = rounded(randn({c.B, c.H, c.Lk, c.dv}, rng));
      AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
      SdpaOptions opt;
      opt.scale = scale;
      SdpaForward<float> fwd = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), mask, opt);
      Naive ref = naive_attention(q, k, v, TensorF({c.B, c.H, c.Lq, c.dv}), mask, opt);
      expect_close(fwd.out, ref.out, 1.5e-2, "out");
      expect_close(fwd.lse, ref.lse, 1e-5, "lse");
    }
}

TEST(FlashBf16, BackwardThroughTheFloat32Kernel) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_br, MaskKind::combined}) {
    const Case c{2, 2, 70, 90, 32, 48, m, 2};
    SCOPED_TRACE(c.name());
    Rng rng(static_cast<uint64_t>(int(m) + 3));
    TensorF q = rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
            v = rounded(randn({c.B, c.H, c.Lk, c.dv}, rng)), dout = randn({c.B, c.H, c.Lq, c.dv}, rng);
    AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
    auto fwd = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), mask, {});
    auto g = sdpa_backward(dout, to_bf16(q), to_bf16(k), to_bf16(v), fwd, mask, {});
    Naive ref = naive_attention(q, k, v, dout, mask, {});
    expect_close(g.dq, ref.dq, 3e-2, "dq");
    expect_close(g.dk, ref.dk, 3e-2, "dk");
    expect_close(g.dv, ref.dv, 1e-5, "dv");
  }
}

TEST(FlashBf16, Float32FallbackGivesTheSameAnswers) {
  kernels::flash_bf16_allow_native(false);
  ASSERT_FALSE(kernels::flash_bf16_native());
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::combined})
    run_bf16({2, 2, 70, 90, 32, 48, m, 2, 0.1, true});
  run_bf16({1, 1, 65, 33, 7, 33, MaskKind::lens_bq, 1});
  kernels::flash_bf16_allow_native(true);
}

TEST(FlashBf16, LongSequence) { run_bf16({1, 1, 300, 2049, 32, 32, MaskKind::causal_br, 2}); }

}  // namespace
}  // namespace qkv::flash_test
