// The float32 fused kernels on every SIMD target compiled in and supported by this CPU (AVX3,
// AVX2, SSE4, ...), forced one at a time through Highway's target mock, against the
// double-precision twin: the fallbacks a different CI CPU would run must be right too.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include "qkv/ops/sdpa/sdpa_fused.h"
#include "qkv/core/parallel.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

TEST(FlashTargets, EveryCompiledTargetMatchesTheTwin) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    for (const Case& c : {Case{2, 2, 53, 70, 32, 48, MaskKind::combined, 2, 0.0, true},
                          Case{1, 1, 130, 129, 7, 33, MaskKind::causal_tl, 1},
                          Case{1, 2, 40, 300, 64, 64, MaskKind::none, 2, 0.2}}) {
      SCOPED_TRACE(std::string("target ") + hwy::TargetName(target) + ": " + c.name());
      Rng rng(static_cast<uint64_t>(c.Lq + c.d));
      TensorF q = randn({c.B, c.H, c.Lq, c.d}, rng), k = randn({c.B, c.H, c.Lk, c.d}, rng),
              v = randn({c.B, c.H, c.Lk, c.dv}, rng), dout = randn({c.B, c.H, c.Lq, c.dv}, rng);
      AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
      SdpaOptions opt;
      opt.dropout_p = c.dropout;
      opt.need_weights = c.weights;
      const int saved = num_threads();
      set_num_threads(c.threads);
      auto fwd = sdpa_fused_forward(q, k, v, mask, opt);
      auto g = sdpa_fused_backward(dout, q, k, v, fwd, mask, opt);
      set_num_threads(saved);
      ReferenceInFloat64 ref = reference_in_float64(q, k, v, dout, mask, opt);
      expect_attention_close(fwd, g, ref, ref, c.weights, 2e-5, 1e-4);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace qkv::flash_test
