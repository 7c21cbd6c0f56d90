// bfloat16 fused attention (sdpa_forward on Tensor<bf16>) against the double-precision twin evaluated on the
// same bf16-rounded inputs: the only extra error is the bf16 rounding of the weights before the
// product with V, so outputs agree to about 1e-2 of their scale and lse to float32 rounding.
// Every case also runs the widened float32 kernel by name (flash_forward_bf16_with), the path
// CPUs without AVX512-BF16 take, whatever this CPU has.
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include "qkv/ops/sdpa/sdpa_bf16.h"
#include "qkv/core/parallel.h"
#include "qkv/kernels/cpu_info.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/flash_adapter.h"
#include "qkv/ops/sdpa/flash_bf16_backward.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

// What sdpa_forward on Tensor<bf16> returns, with the bf16 kernel named: out and lse from
// flash_forward_bf16_with, the weights (when asked) from flash_weights on the saved lse.
SdpaForward<float> forward_with(kernels::Bf16Kernel kernel, const TensorF& q, const TensorF& k, const TensorF& v,
                                const AttentionMask& mask, const SdpaOptions& opt) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, opt, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of(opt, dm.d);
  Tensor<bf16> qb = to_bf16(q), kb = to_bf16(k), vb = to_bf16(v);
  SdpaForward<float> fwd;
  fwd.out = TensorF({dm.B, dm.H, dm.Lq, dm.dv});
  fwd.lse = TensorF({dm.B, dm.H, dm.Lq});
  kernels::flash_forward_bf16_with(kernel, dm, scale, bf16_view(qb), bf16_view(kb), bf16_view(vb), m.fm,
                                   fwd.out.data(), fwd.lse.data());
  if (opt.need_weights) {
    fwd.weights = TensorF({dm.B, dm.H, dm.Lq, dm.Lk});
    TensorF qk, kk;
    kernels::flash_weights(dm, scale, flash_adapter::view_of(q, qk), flash_adapter::view_of(k, kk), fwd.lse.data(),
                           m.fm, fwd.weights.data());
  }
  return fwd;
}

// One case against the twin: through sdpa_forward on Tensor<bf16> (the kernel this CPU runs) unless
// through_api is false, then through the widened kernel by name.
void run_bf16(const Case& c, bool through_api = true) {
  Rng rng(static_cast<uint64_t>(c.Lq * 131 + c.Lk * 17 + c.d + int(c.mask)));
  TensorF q = bf16_rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = bf16_rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
          v = bf16_rounded(randn({c.B, c.H, c.Lk, c.dv}, rng));
  AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
  SdpaOptions opt;
  opt.dropout_p = c.dropout;
  opt.dropout_seed = 99;
  opt.need_weights = c.weights;
  ReferenceInFloat64 ref = reference_in_float64(q, k, v, TensorF({c.B, c.H, c.Lq, c.dv}), mask, opt);
  auto check = [&](const SdpaForward<float>& fwd) {
    expect_close(fwd.out, ref.out, 1.5e-2, "out");
    expect_close(fwd.lse, ref.lse, 1e-5, "lse");
    if (c.weights) expect_close(fwd.weights, ref.weights, 1e-5, "weights");
  };
  const int saved = num_threads();
  set_num_threads(c.threads);
  if (through_api) {
    SCOPED_TRACE(c.name() + (kernels::flash_bf16_native() ? " (AVX512-BF16)" : " (float32 fallback)"));
    check(sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), mask, opt));
  }
  {
    SCOPED_TRACE(c.name() + " (Bf16Kernel::widened)");
    check(forward_with(kernels::Bf16Kernel::widened, q, k, v, mask, opt));
  }
  set_num_threads(saved);
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

// The decoding sweep (flash_test_util.h): with up to four query rows per head the native kernel
// scores straight from K's rows, and with one row it also multiplies the weights by V's rows.
TEST(FlashBf16, DecodingRowsScoreStraightFromTheKeys) {
  for (const Case& c : decoding_cases()) run_bf16(c);
}

// The tile leaves q·k unscaled and the softmax applies scale·log2(e) unless the scale is <= 0 or a
// bias is added: both paths, with explicit scales of either sign and zero (uniform weights).
TEST(FlashBf16, ExplicitScalesOfEitherSign) {
  for (float scale : {0.3f, 0.0f, -0.45f})
    for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::bias})
      for (int64_t Lq : {40, 1}) {  // 1: the decoding scores (decode_scores_avx512.h)
        const Case c{1, 2, Lq, 75, 32, 32, m, 2};
        SCOPED_TRACE(c.name() + " scale=" + std::to_string(scale));
        Rng rng(static_cast<uint64_t>(int(m) + 11));
        TensorF q = bf16_rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = bf16_rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
                v = bf16_rounded(randn({c.B, c.H, c.Lk, c.dv}, rng));
        AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
        SdpaOptions opt;
        opt.scale = scale;
        SdpaForward<float> fwd = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), mask, opt);
        ReferenceInFloat64 ref = reference_in_float64(q, k, v, TensorF({c.B, c.H, c.Lq, c.dv}), mask, opt);
        expect_close(fwd.out, ref.out, 1.5e-2, "out");
        expect_close(fwd.lse, ref.lse, 1e-5, "lse");
      }
}

// The widened bf16 backward (what CPUs without AVX512-BF16 run, named here whatever this CPU has)
// is the float32 kernel on the widened inputs: dv as exact as float32, dq and dk within the error
// the native forward's lse carries. The native backward is tested in test_flash_bf16_backward.cpp.
TEST(FlashBf16, WidenedBackwardIsTheFloat32Kernel) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_br, MaskKind::combined}) {
    const Case c{2, 2, 70, 90, 32, 48, m, 2};
    SCOPED_TRACE(c.name());
    Rng rng(static_cast<uint64_t>(int(m) + 3));
    TensorF q = bf16_rounded(randn({c.B, c.H, c.Lq, c.d}, rng)), k = bf16_rounded(randn({c.B, c.H, c.Lk, c.d}, rng)),
            v = bf16_rounded(randn({c.B, c.H, c.Lk, c.dv}, rng)), dout = randn({c.B, c.H, c.Lq, c.dv}, rng);
    AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
    const Tensor<bf16> qb = to_bf16(q), kb = to_bf16(k), vb = to_bf16(v);
    auto fwd = sdpa_forward(qb, kb, vb, mask, {});
    const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
    const flash_adapter::Mask fm = flash_adapter::make_mask(mask, {}, dm.B, dm.H, dm.Lq, dm.Lk);
    TensorF keep_o, keep_d, dq(q.shape()), dk(k.shape()), dv(v.shape());
    kernels::flash_backward_bf16_with(kernels::Bf16Kernel::widened, dm, flash_adapter::scale_of({}, dm.d), bf16_view(qb),
                                      bf16_view(kb), bf16_view(vb), flash_adapter::view_of(fwd.out, keep_o),
                                      flash_adapter::view_of(dout, keep_d), fwd.lse.data(), fm.fm, dq.data(), dk.data(),
                                      dv.data());
    ReferenceInFloat64 ref = reference_in_float64(q, k, v, dout, mask, {});
    expect_close(dq, ref.dq, 3e-2, "dq");
    expect_close(dk, ref.dk, 3e-2, "dk");
    expect_close(dv, ref.dv, 1e-5, "dv");
  }
}

TEST(FlashBf16, Float32FallbackGivesTheSameAnswers) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::combined})
    run_bf16({2, 2, 70, 90, 32, 48, m, 2, 0.1, true}, false);
  run_bf16({1, 1, 65, 33, 7, 33, MaskKind::lens_bq, 1}, false);
}

// Asking for the native kernel where it does not run (a CPU without AVX512-BF16, or a SIMD target
// below AVX-512 forced here) is an error that says why.
TEST(FlashBf16, NativeKernelOnlyWhereTheCpuHasIt) {
  Rng rng(5);
  const TensorF q = bf16_rounded(randn({1, 1, 4, 8}, rng));
  expect_native_refused_where_unavailable([&] { forward_with(kernels::Bf16Kernel::native, q, q, q, {}, {}); });
}

// The bf16 kernel is chosen like the float32 ones, by Highway's dispatch: on every SIMD target
// compiled in and supported here (forced one at a time), the native kernel exactly where the
// target is an AVX-512 one and the CPU has AVX512-BF16, and the twin's answers on each.
TEST(FlashBf16, EveryCompiledTargetMatchesTheTwin) {
  const bool cpu_bf16 = kernels::cpu_info().avx512_bf16;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(target));
    const bool avx512 = (target & (HWY_AVX3 | HWY_AVX3_DL)) != 0;
    EXPECT_EQ(kernels::flash_bf16_native(), avx512 && cpu_bf16);
    run_bf16({2, 2, 53, 70, 32, 48, MaskKind::combined, 2, 0.0, true});
    run_bf16({1, 1, 130, 129, 7, 33, MaskKind::causal_tl, 1, 0.2});
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(FlashBf16, LongSequence) { run_bf16({1, 1, 300, 2049, 32, 32, MaskKind::causal_br, 2}); }

}  // namespace
}  // namespace qkv::flash_test
