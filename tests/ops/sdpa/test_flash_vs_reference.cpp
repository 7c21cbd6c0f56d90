// The fused backend against the reference backend (sdpa_reference, run in float64 on the same
// inputs) through the public API sdpa_forward / sdpa_backward: out, lse, weights and gradients
// for every mask kind, dropout, several head dims and lengths, 1 and 2 threads.
#include <gtest/gtest.h>

#include "qkv/ops/sdpa/sdpa_fused.h"
#include "qkv/core/parallel.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

void compare_with_reference(const Case& c) {
  SCOPED_TRACE(c.name());
  Rng rng(static_cast<uint64_t>(c.Lq * 1009 + c.Lk * 13 + c.d * 7 + c.dv + int(c.mask) * 101));
  TensorF q = randn({c.B, c.H, c.Lq, c.d}, rng), k = randn({c.B, c.H, c.Lk, c.d}, rng),
          v = randn({c.B, c.H, c.Lk, c.dv}, rng), dout = randn({c.B, c.H, c.Lq, c.dv}, rng);
  AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
  SdpaOptions opt;
  opt.dropout_p = c.dropout;
  opt.dropout_seed = 77;
  opt.need_weights = c.weights;
  const int saved = num_threads();
  set_num_threads(c.threads);
  auto fwd = sdpa_forward(q, k, v, mask, opt, AttentionBackend::fused);
  auto g = sdpa_backward(dout, q, k, v, fwd, mask, opt, AttentionBackend::fused);
  set_num_threads(saved);
  const TensorD qd = q.cast<double>(), kd = k.cast<double>(), vd = v.cast<double>(), dd = dout.cast<double>();
  auto rf = sdpa_forward(qd, kd, vd, mask, opt, AttentionBackend::reference);
  auto rg = sdpa_backward(dd, qd, kd, vd, rf, mask, opt, AttentionBackend::reference);
  expect_attention_close(fwd, g, rf, rg, c.weights, 2e-5, 1e-4);
}

TEST(FlashVsReference, EveryMaskKindOneAndTwoThreads) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::causal_br, MaskKind::lens_b, MaskKind::lens_bq,
                     MaskKind::allowed, MaskKind::bias, MaskKind::combined})
    for (int threads : {1, 2}) compare_with_reference({2, 2, 67, 131, 32, 16, m, threads, 0.0, true});
}

TEST(FlashVsReference, HeadDimsAndLengths) {
  for (int64_t d : {16, 48, 80, 128, 256})
    for (int64_t L : {1, 64, 257}) compare_with_reference({1, 2, L, L + 5, d, d, MaskKind::causal_br, 2});
}

TEST(FlashVsReference, DropoutMatchesTheCounterRule) {
  for (MaskKind m : {MaskKind::none, MaskKind::combined})
    for (int threads : {1, 2}) compare_with_reference({2, 3, 70, 300, 32, 48, m, threads, 0.2, true});
  compare_with_reference({1, 2, 30, 40, 16, 16, MaskKind::causal_tl, 2, 1.0, true});  // everything dropped
}

TEST(FlashVsReference, AutomaticBackendPicksFusedForFloat) {
  Rng rng(5);
  TensorF q = randn({1, 2, 40, 16}, rng), k = randn({1, 2, 50, 16}, rng), v = randn({1, 2, 50, 16}, rng);
  AttentionMask mask;
  mask.causal = Causal::top_left;
  EXPECT_EQ(sdpa_backend<float>(AttentionBackend::automatic), AttentionBackend::fused);
  auto a = sdpa_forward(q, k, v, mask, {}, AttentionBackend::automatic);
  auto f = sdpa_forward(q, k, v, mask, {}, AttentionBackend::fused);
  EXPECT_EQ(a.out.to_vector(), f.out.to_vector());
}

}  // namespace
}  // namespace qkv::flash_test
