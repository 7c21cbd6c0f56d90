// The fused attention kernels (ops/sdpa/flash_f32.cpp, via the fused backend of sdpa) against the
// one reference (sdpa_reference) in double: forward, lse, weights and backward over every head dim,
// lengths that are not multiples of the block size, Lq ≠ Lk, d ≠ dv, every mask kind, dropout,
// and 1 and 2 threads. Each case is named in the failure message.
#include <gtest/gtest.h>

#include <vector>

#include "qkv/ops/sdpa/sdpa_fused.h"
#include "qkv/core/parallel.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

void run_case(const Case& c, double rtol = 2e-5) {
  SCOPED_TRACE(c.name());
  Rng rng(static_cast<uint64_t>(c.B * 1000003 + c.Lq * 7919 + c.Lk * 31 + c.d * 3 + c.dv + int(c.mask)));
  TensorF q = randn({c.B, c.H, c.Lq, c.d}, rng), k = randn({c.B, c.H, c.Lk, c.d}, rng),
          v = randn({c.B, c.H, c.Lk, c.dv}, rng), dout = randn({c.B, c.H, c.Lq, c.dv}, rng);
  AttentionMask mask = make_mask(c.mask, c.B, c.H, c.Lq, c.Lk, rng);
  SdpaOptions opt;
  opt.dropout_p = c.dropout;
  opt.dropout_seed = 1234;
  opt.need_weights = c.weights;
  const int saved = num_threads();
  set_num_threads(c.threads);
  SdpaForward<float> fwd = sdpa_fused_forward(q, k, v, mask, opt);
  SdpaGrads<float> g = sdpa_fused_backward(dout, q, k, v, fwd, mask, opt);
  set_num_threads(saved);
  ReferenceInFloat64 ref = reference_in_float64(q, k, v, dout, mask, opt);
  expect_attention_close(fwd, g, ref, ref, c.weights, rtol, 4 * rtol);
}

TEST(FlashSweep, EveryHeadDim) {
  for (int64_t d : {16, 32, 48, 64, 80, 96, 128, 256})
    for (int threads : {1, 2}) run_case({1, 2, 77, 70, d, d, MaskKind::none, threads});
}

TEST(FlashSweep, LengthsAroundTheBlockSizes) {
  for (int64_t L : {1, 2, 5, 6, 7, 47, 48, 49, 63, 64, 65, 96, 127, 128, 129, 200})
    run_case({1, 1, L, L, 32, 32, MaskKind::causal_tl, L % 2 ? 1 : 2});
}

TEST(FlashSweep, QueryAndKeyLengthsDiffer) {
  for (auto [Lq, Lk] : std::vector<std::pair<int64_t, int64_t>>{{1, 130}, {130, 1}, {37, 200}, {200, 37}, {64, 65}})
    for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::causal_br})
      run_case({2, 1, Lq, Lk, 16, 16, m, 2});
}

TEST(FlashSweep, DecodingRowsScoreStraightFromTheKeys) {
  for (const Case& c : decoding_cases()) run_case(c);  // flash_test_util.h
}

TEST(FlashSweep, ValueWidthDiffersFromHeadDim) {
  for (auto [d, dv] : std::vector<std::pair<int64_t, int64_t>>{{16, 48}, {64, 16}, {7, 33}, {33, 7}, {128, 80}, {3, 1}})
    for (int threads : {1, 2}) run_case({2, 2, 50, 70, d, dv, MaskKind::causal_br, threads});
}

TEST(FlashSweep, EveryMaskKind) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::causal_br, MaskKind::lens_b, MaskKind::lens_bq,
                     MaskKind::allowed, MaskKind::bias, MaskKind::combined})
    for (int threads : {1, 2}) run_case({3, 2, 70, 90, 32, 48, m, threads, 0.0, true});
}

TEST(FlashSweep, Dropout) {
  for (MaskKind m : {MaskKind::none, MaskKind::causal_tl, MaskKind::combined})
    for (int threads : {1, 2}) run_case({2, 2, 65, 70, 32, 32, m, threads, 0.3, true});
}

TEST(FlashSweep, LongSequences) {
  run_case({1, 1, 2049, 2049, 16, 16, MaskKind::causal_tl, 2}, 5e-5);
  run_case({1, 1, 300, 2049, 16, 16, MaskKind::lens_bq, 2}, 5e-5);
  run_case({1, 1, 8192, 40, 16, 16, MaskKind::causal_br, 2}, 5e-5);
  run_case({1, 1, 5, 8192, 16, 16, MaskKind::none, 2}, 5e-5);
}

TEST(FlashSweep, FullyMaskedRowsGiveZerosAndZeroGradients) {
  Rng rng(7);
  const int64_t B = 2, H = 2, Lq = 20, Lk = 30, d = 16;
  TensorF q = randn({B, H, Lq, d}, rng), k = randn({B, H, Lk, d}, rng), v = randn({B, H, Lk, d}, rng),
          dout = randn({B, H, Lq, d}, rng);
  AttentionMask mask;
  mask.valid_lens = TensorI({B});
  mask.valid_lens[0] = 0;
  mask.valid_lens[1] = 10;
  mask.causal = Causal::bottom_right;  // with Lq < Lk still every row of batch 1 sees a key
  SdpaOptions opt;
  opt.need_weights = true;
  auto fwd = sdpa_fused_forward(q, k, v, mask, opt);
  auto g = sdpa_fused_backward(dout, q, k, v, fwd, mask, opt);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Lq; ++i) {
      EXPECT_EQ(fwd.lse.at({0, h, i}), -std::numeric_limits<float>::infinity());
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_EQ(fwd.out.at({0, h, i, c}), 0.0f);
        EXPECT_EQ(g.dq.at({0, h, i, c}), 0.0f);
      }
      for (int64_t j = 0; j < Lk; ++j) EXPECT_EQ(fwd.weights.at({0, h, i, j}), 0.0f);
    }
  for (int64_t h = 0; h < H; ++h)
    for (int64_t j = 0; j < Lk; ++j)
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_EQ(g.dk.at({0, h, j, c}), 0.0f);
        EXPECT_EQ(g.dv.at({0, h, j, c}), 0.0f);
        if (j >= 10) EXPECT_EQ(g.dk.at({1, h, j, c}), 0.0f);  // keys past the length get no gradient
      }
  ReferenceInFloat64 ref = reference_in_float64(q, k, v, dout, mask, opt);
  expect_close(fwd.out, ref.out, 2e-5, "out");
  expect_close(g.dq, ref.dq, 1e-4, "dq");
}

TEST(FlashSweep, StridedAndBroadcastInputs) {
  Rng rng(11);
  // q as a transposed view (B, L, H, d) → (B, H, L, d); k and v shared by every head (stride 0).
  TensorF qt = randn({2, 40, 3, 32}, rng);
  TensorF q = qt.transpose(1, 2);
  TensorF k = randn({2, 1, 50, 32}, rng).expand({2, 3, 50, 32});
  TensorF v = randn({2, 1, 50, 24}, rng).expand({2, 3, 50, 24});
  TensorF dout = randn({2, 3, 40, 24}, rng);
  AttentionMask mask;
  mask.causal = Causal::top_left;
  SdpaOptions opt;
  opt.scale = 0.3;
  auto fwd = sdpa_fused_forward(q, k, v, mask, opt);
  auto g = sdpa_fused_backward(dout, q, k, v, fwd, mask, opt);
  ReferenceInFloat64 ref = reference_in_float64(q, k, v, dout, mask, opt);
  expect_close(fwd.out, ref.out, 2e-5, "out");
  expect_close(g.dq, ref.dq, 1e-4, "dq");
  expect_close(g.dk, ref.dk, 1e-4, "dk");
  expect_close(g.dv, ref.dv, 1e-4, "dv");
}

TEST(FlashSweep, EmptyQueriesOrKeys) {
  run_case({2, 2, 0, 5, 16, 16, MaskKind::none, 2});
  run_case({2, 2, 5, 0, 16, 16, MaskKind::none, 2});  // no key at all: zero output, lse −inf
}

TEST(FlashSweep, BadArgumentsThrow) {
  TensorF q({1, 2, 5, 8}), k({1, 2, 6, 8}), v({1, 2, 6, 4});
  EXPECT_THROW(sdpa_fused_forward(q, TensorF({1, 2, 6, 7}), v, {}, {}), Error);
  EXPECT_THROW(sdpa_fused_forward(q, k, TensorF({1, 2, 5, 4}), {}, {}), Error);
  AttentionMask m;
  m.valid_lens = TensorI::from({1}, {7});
  EXPECT_THROW(sdpa_fused_forward(q, k, v, m, {}), Error);
  SdpaOptions o;
  o.dropout_p = 1.5;
  EXPECT_THROW(sdpa_fused_forward(q, k, v, {}, o), Error);
  auto fwd = sdpa_fused_forward(q, k, v, {}, {});
  EXPECT_THROW(sdpa_fused_backward(TensorF({1, 2, 5, 5}), q, k, v, fwd, {}, {}), Error);
}

}  // namespace
}  // namespace qkv::flash_test
