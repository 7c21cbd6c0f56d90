// The attention variants of SdpaOptions (sdpa.h): grouped-query heads, sliding window, ALiBi and
// soft-capping, alone and combined with every mask kind and dropout.
//   (1) Through the op harness (tests/support/op_harness.h): the one reference's gradients against
//       float64 finite differences, and the fused float32 kernel on every Highway target at 1 and
//       2 threads against the reference (out, lse, dq, dk, dv).
//   (2) The reference's definitions against the plain attention they stand for: GQA = K/V heads
//       repeat-interleaved (dK, dV summed over the group), window = a boolean band mask, ALiBi = an
//       additive bias −slope·|i + Lk − Lq − j|.
//   (3) bf16 inputs with variants (the widened kernel), and the errors of bad variant arguments.
// The decode cases (B·H = 1, Lq <= 3, long Lk) take the forward's split of the key axis at 2 threads;
// the grouped decode cases (Lq = 1, H > Hkv) run as Hkv heads of H / Hkv rows.
#include <gtest/gtest.h>

#include <cmath>

#include "op_harness.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/sdpa_shapes.h"

using namespace qkv;
using test::Named;

namespace {

struct VariantCase {
  std::string label;
  int64_t B, H, Hkv, Lq, Lk, d, dv;
  AttentionMask mask;
  int64_t left = -1, right = -1;
  std::vector<float> slopes;  // empty, H or B·H entries
  double softcap = 0.0;
  double dropout = 0.0;
  double fd_tol = 1e-6;
  std::map<std::string, double> rtol = {{"out", 2e-5}, {"lse", 2e-5}, {"dq", 1e-4}, {"dk", 1e-4}, {"dv", 1e-4}};
  std::string name() const { return label; }
  SdpaOptions options() const {
    SdpaOptions o;
    o.enable_gqa = Hkv != H;
    o.window_left = left;
    o.window_right = right;
    o.softcap = softcap;
    o.dropout_p = dropout;
    o.dropout_seed = 11;
    if (!slopes.empty()) {
      const int64_t n = static_cast<int64_t>(slopes.size());
      o.alibi_slopes = n == H ? TensorF::from({H}, slopes) : TensorF::from({B, H}, slopes);
    }
    return o;
  }
};

template <typename T>
Named run(const VariantCase& c, const Named& in, const Named& up, AttentionBackend backend) {
  const SdpaOptions options = c.options();
  const Tensor<T> q = in.at("q").cast<T>(), k = in.at("k").cast<T>(), v = in.at("v").cast<T>();
  const SdpaForward<T> f = sdpa_forward(q, k, v, c.mask, options, backend);
  const SdpaGrads<T> g = sdpa_backward(up.at("out").cast<T>(), q, k, v, f, c.mask, options, backend);
  return {{"out", f.out.template cast<double>()}, {"lse", f.lse.template cast<double>()},
          {"dq", g.dq.template cast<double>()},   {"dk", g.dk.template cast<double>()},
          {"dv", g.dv.template cast<double>()}};
}

Named inputs_of(const VariantCase& c) {
  Rng rng(31);
  return Named{{"q", test::randn({c.B, c.H, c.Lq, c.d}, rng)},
               {"k", test::randn({c.B, c.Hkv, c.Lk, c.d}, rng)},
               {"v", test::randn({c.B, c.Hkv, c.Lk, c.dv}, rng)}};
}

}  // namespace

TEST(OpSdpaVariants, HarnessReferenceGradientsAndFusedKernels) {
  AttentionMask top_left, bottom_right, lens, per_query_lens, allowed_bias;
  top_left.causal = Causal::top_left;
  bottom_right.causal = Causal::bottom_right;
  lens.valid_lens = TensorI::from({2}, {3, 7});
  per_query_lens.valid_lens = TensorI::from({2, 5}, {1, 2, 7, 0, 5, 7, 7, 3, 2, 6});
  allowed_bias.allowed = TensorB::from({5, 7}, {1, 1, 0, 1, 1, 1, 1,  1, 0, 1, 1, 1, 1, 1,  1, 1, 1, 1, 0, 1, 1,
                                               0, 1, 1, 1, 1, 1, 1,  1, 1, 1, 1, 1, 1, 0});
  allowed_bias.bias = TensorF::from({1, 7}, {0.5f, -1, 0, 2, -0.25f, 1, 0});
  AttentionMask lens_causal = lens;
  lens_causal.causal = Causal::top_left;
  const std::vector<float> four = {0.5f, 0.25f, 0.125f, 0.0625f};
  // Grouped decoding (Lq = 1) runs as Hkv heads of G rows: masks that differ per query head.
  AttentionMask per_head, decode_lens;
  {
    Rng rng(33);
    per_head.allowed = TensorB({1, 4, 1, 150});
    per_head.bias = TensorF({1, 4, 1, 150});
    for (int64_t i = 0; i < 4 * 150; ++i) {
      per_head.allowed[i] = rng.uniform() < 0.7 || i % 150 == 0;
      per_head.bias[i] = static_cast<float>(rng.normal());
    }
    decode_lens.valid_lens = TensorI::from({2, 1}, {260, 7});
    decode_lens.causal = Causal::bottom_right;
  }
  test::OpHarness<VariantCase> h;
  h.cases = {
      {"GQA 4 heads on 2, Lq != Lk, d != dv", 2, 4, 2, 5, 7, 4, 3, {}},
      {"MQA 3 heads on 1, causal bottom-right", 1, 3, 1, 4, 7, 3, 5, bottom_right},
      {"GQA + allowed + bias", 2, 2, 1, 5, 7, 4, 3, allowed_bias},
      {"window (2, 1), Lq == Lk", 2, 2, 2, 9, 9, 4, 3, {}, 2, 1},
      {"window (5, -1) + causal top-left, Lq < Lk", 1, 2, 2, 6, 9, 4, 4, top_left, 5, -1},
      {"window (-1, 0), Lq > Lk", 1, 2, 2, 9, 6, 3, 5, {}, -1, 0},
      {"window (1, 1) + valid lengths: fully masked rows", 2, 1, 1, 5, 7, 4, 3, lens, 1, 1},
      {"window (0, 2) + per-query lengths", 2, 1, 1, 5, 7, 4, 3, per_query_lens, 0, 2},
      {"ALiBi (H) + allowed + bias", 2, 2, 2, 5, 7, 4, 3, allowed_bias, -1, -1, {0.5f, 0.25f}},
      {"ALiBi (B, H) + causal bottom-right", 2, 2, 2, 4, 7, 4, 3, bottom_right, -1, -1, four},
      {"softcap 1.5", 2, 2, 2, 5, 7, 4, 3, {}, -1, -1, {}, 1.5},
      {"softcap 0.5 + bias + allowed", 2, 2, 2, 5, 7, 4, 3, allowed_bias, -1, -1, {}, 0.5},
      // Scores of about ±10 caps: s/cap reaches past ±8, where the kernel's tanh clamps to ±1.
      {"softcap 0.1: saturated scores", 1, 2, 2, 6, 37, 16, 5, {}, -1, -1, {}, 0.1},
      {"everything: GQA, window, ALiBi, softcap, lengths, causal, dropout", 2, 4, 2, 5, 7, 4, 3, lens_causal, 4, 1,
       {0.5f, 0.25f, 0.125f, 0.0625f}, 1.0, 0.3},
      {"large: GQA + window (40, 3) + ALiBi + softcap, several key blocks", 1, 4, 2, 200, 230, 64, 32, {}, 40, 3,
       {0.05f, 0.1f, 0.02f, 0.2f}, 4.0, 0.0, 0.0},
      {"large: window (70, 0) + causal bottom-right", 1, 2, 2, 150, 300, 32, 48, bottom_right, 70, 0, {}, 0.0, 0.0,
       0.0},
      // Decoding: B·H = 1 item below 2 threads, so the forward splits the keys over the workers.
      {"decode: Lq 1, Lk 1100, causal bottom-right", 1, 1, 1, 1, 1100, 64, 64, bottom_right, -1, -1, {}, 0.0, 0.0,
       0.0},
      {"decode: Lq 3, Lk 700, dv padded, window + ALiBi + dropout", 1, 1, 1, 3, 700, 40, 24, bottom_right, 600, -1,
       {0.01f}, 0.0, 0.2, 0.0},
      {"grouped decode: Lq 1, 8 heads on 2, per-query lengths + causal bottom-right + softcap", 2, 8, 2, 1, 300, 32,
       16, decode_lens, -1, -1, {}, 3.0, 0.0, 0.0},
      {"grouped decode: MQA 4 heads on 1, per-head allowed and bias, dv padded", 1, 4, 1, 1, 150, 16, 24, per_head, -1,
       -1, {}, 0.0, 0.0, 0.0},
      {"grouped Lq 1, window (30, 0) (depends on the row: not regrouped)", 1, 4, 2, 1, 90, 8, 8, {}, 30, 0, {}, 0.0,
       0.0, 0.0},
  };
  h.inputs = inputs_of;
  h.upstream = [](const VariantCase& c) {
    Rng rng(32);
    return Named{{"out", test::randn({c.B, c.H, c.Lq, c.dv}, rng)}};
  };
  h.reference = [](const VariantCase& c, const Named& in, const Named& up) {
    return run<double>(c, in, up, AttentionBackend::reference);
  };
  h.fast = [](const VariantCase& c, const Named& in, const Named& up) {
    return run<float>(c, in, up, AttentionBackend::fused);
  };
  h.run();
}

TEST(OpSdpaVariants, GqaIsRepeatInterleavedHeadsWithSummedGradients) {
  const int64_t B = 2, H = 6, Hkv = 2, G = H / Hkv, Lq = 5, Lk = 7, d = 4, dv = 3;
  Rng rng(41);
  const TensorD q = test::randn({B, H, Lq, d}, rng), k = test::randn({B, Hkv, Lk, d}, rng),
                v = test::randn({B, Hkv, Lk, dv}, rng), dout = test::randn({B, H, Lq, dv}, rng);
  auto repeat = [&](const TensorD& t) {  // (B, Hkv, L, w) → (B, H, L, w), head h from h / G
    TensorD out({B, H, t.dim(2), t.dim(3)});
    const int64_t n = t.dim(2) * t.dim(3);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t x = 0; x < n; ++x) out[(b * H + h) * n + x] = t[(b * Hkv + h / G) * n + x];
    return out;
  };
  AttentionMask causal;
  causal.causal = Causal::bottom_right;
  SdpaOptions gqa;
  gqa.enable_gqa = true;
  const auto f = sdpa_forward(q, k, v, causal, gqa);
  const auto g = sdpa_backward(dout, q, k, v, f, causal, gqa);
  const TensorD kr = repeat(k), vr = repeat(v);
  const auto fr = sdpa_forward(q, kr, vr, causal);
  const auto gr = sdpa_backward(dout, q, kr, vr, fr, causal);
  EXPECT_TRUE(test::tensors_close("out", f.out, fr.out, 1e-12));
  EXPECT_TRUE(test::tensors_close("dq", g.dq, gr.dq, 1e-12));
  TensorD dk({B, Hkv, Lk, d}), dvs({B, Hkv, Lk, dv});
  dk.fill(0.0);
  dvs.fill(0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t x = 0; x < Lk * d; ++x) dk[(b * Hkv + h / G) * Lk * d + x] += gr.dk[(b * H + h) * Lk * d + x];
      for (int64_t x = 0; x < Lk * dv; ++x) dvs[(b * Hkv + h / G) * Lk * dv + x] += gr.dv[(b * H + h) * Lk * dv + x];
    }
  EXPECT_TRUE(test::tensors_close("dk", g.dk, dk, 1e-12));
  EXPECT_TRUE(test::tensors_close("dv", g.dv, dvs, 1e-12));
}

TEST(OpSdpaVariants, WindowAndAlibiAreABandMaskAndADistanceBias) {
  const int64_t B = 2, H = 2, Lq = 6, Lk = 9, d = 4, dv = 3, left = 2, right = 1, off = Lk - Lq;
  Rng rng(43);
  const TensorD q = test::randn({B, H, Lq, d}, rng), k = test::randn({B, H, Lk, d}, rng),
                v = test::randn({B, H, Lk, dv}, rng), dout = test::randn({B, H, Lq, dv}, rng);
  const std::vector<float> slopes = {0.5f, 0.125f};
  SdpaOptions variant;
  variant.window_left = left;
  variant.window_right = right;
  variant.alibi_slopes = TensorF::from({H}, slopes);
  AttentionMask explicit_mask;
  explicit_mask.allowed = TensorB({1, H, Lq, Lk});
  explicit_mask.bias = TensorF({1, H, Lq, Lk});
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) {
        const int64_t at = (h * Lq + i) * Lk + j;
        explicit_mask.allowed[at] = j >= i + off - left && j <= i + off + right;
        explicit_mask.bias[at] = -slopes[static_cast<size_t>(h)] * static_cast<float>(std::abs(i + off - j));
      }
  const auto f = sdpa_forward(q, k, v, {}, variant);
  const auto g = sdpa_backward(dout, q, k, v, f, {}, variant);
  const auto fe = sdpa_forward(q, k, v, explicit_mask);
  const auto ge = sdpa_backward(dout, q, k, v, fe, explicit_mask);
  EXPECT_TRUE(test::tensors_close("out", f.out, fe.out, 1e-6));
  EXPECT_TRUE(test::tensors_close("lse", f.lse, fe.lse, 1e-6));
  EXPECT_TRUE(test::tensors_close("dq", g.dq, ge.dq, 1e-6));
  EXPECT_TRUE(test::tensors_close("dk", g.dk, ge.dk, 1e-6));
  EXPECT_TRUE(test::tensors_close("dv", g.dv, ge.dv, 1e-6));
}

TEST(OpSdpaVariants, FullyMaskedRowsGiveZerosAndZeroGradientsInTheFusedKernel) {
  // window (0, 0) aligned bottom-right: query i sees only key i + 2, masked by valid_lens 3 for i >= 1.
  const int64_t B = 1, H = 2, Lq = 5, Lk = 7, d = 4, dv = 3;
  Rng rng(47);
  const TensorF q = test::randn<float>({B, H, Lq, d}, rng), k = test::randn<float>({B, 1, Lk, d}, rng),
                v = test::randn<float>({B, 1, Lk, dv}, rng), dout = test::randn<float>({B, H, Lq, dv}, rng);
  AttentionMask lens;
  lens.valid_lens = TensorI::from({1}, {3});
  SdpaOptions o;
  o.enable_gqa = true;
  o.window_left = 0;
  o.window_right = 0;
  o.softcap = 2.0;
  o.alibi_slopes = TensorF::from({H}, {0.5f, 1.0f});
  const auto f = sdpa_forward(q, k, v, lens, o, AttentionBackend::fused);
  const auto g = sdpa_backward(dout, q, k, v, f, lens, o, AttentionBackend::fused);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 1; i < Lq; ++i) {
      EXPECT_EQ(f.lse[h * Lq + i], -std::numeric_limits<float>::infinity());
      for (int64_t c = 0; c < dv; ++c) EXPECT_EQ(f.out[(h * Lq + i) * dv + c], 0.0f);
      for (int64_t c = 0; c < d; ++c) EXPECT_EQ(g.dq[(h * Lq + i) * d + c], 0.0f);
    }
  for (int64_t j = 0; j < Lk; ++j)  // only key 2 is ever seen (alone: dv = dout of query 0, dk = 0)
    for (int64_t c = 0; c < dv; ++c) EXPECT_EQ(g.dv[j * dv + c] == 0.0f, j != 2) << "key " << j;
  EXPECT_TRUE(test::all_finite(g.dk) && test::all_finite(g.dv) && test::all_finite(g.dq));
}

TEST(OpSdpaVariants, Bf16InputsWithVariantsMatchTheReference) {
  const VariantCase c{"bf16", 2, 4, 2, 37, 45, 16, 8, {}, 5, 2, {0.5f, 0.25f, 0.125f, 0.0625f}, 2.0};
  Named in = inputs_of(c);
  auto to_bf16 = [](const TensorD& t) {
    Tensor<bf16> out(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(static_cast<float>(t[i]));
    return out;
  };
  const Tensor<bf16> qb = to_bf16(in.at("q")), kb = to_bf16(in.at("k")), vb = to_bf16(in.at("v"));
  auto widened = [](const Tensor<bf16>& t) {
    TensorD out(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<double>(static_cast<float>(t[i]));
    return out;
  };
  AttentionMask causal;
  causal.causal = Causal::bottom_right;
  const auto want = sdpa_forward(widened(qb), widened(kb), widened(vb), causal, c.options());
  test::for_each_target_and_thread_count([&](const std::string& label) {
    SCOPED_TRACE(label);
    const auto got = sdpa_forward(qb, kb, vb, causal, c.options());
    EXPECT_TRUE(test::tensors_close("out", got.out.cast<double>(), want.out, 2e-5, test::kRelativeOnly));
    EXPECT_TRUE(test::tensors_close("lse", got.lse.cast<double>(), want.lse, 2e-5, test::kRelativeOnly));
  });
}

TEST(OpSdpaVariants, GroupedDecodingEqualsTheCallWithRepeatedKeyValueHeads) {
  // Lq = 1 with G query heads per key/value head runs as Hkv heads of G rows (float32 and bf16,
  // where the regrouped bf16 call takes the native kernel): the same as K and V repeated per head.
  const int64_t B = 2, H = 8, Hkv = 2, G = H / Hkv, Lk = 1000, d = 64;
  Rng rng(57);
  const TensorF q = test::randn<float>({B, H, 1, d}, rng), k = test::randn<float>({B, Hkv, Lk, d}, rng),
                v = test::randn<float>({B, Hkv, Lk, d}, rng);
  auto repeat = [&](const TensorF& t) {
    TensorF out({B, H, Lk, d});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        std::copy_n(t.data() + (b * Hkv + h / G) * Lk * d, Lk * d, out.data() + (b * H + h) * Lk * d);
    return out;
  };
  auto to_bf16 = [](const TensorF& t) {
    Tensor<bf16> out(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
    return out;
  };
  AttentionMask causal;
  causal.causal = Causal::bottom_right;
  SdpaOptions gqa;
  gqa.enable_gqa = true;
  gqa.softcap = 5.0;
  SdpaOptions full = gqa;
  full.enable_gqa = false;
  test::for_each_target_and_thread_count([&](const std::string& label) {
    SCOPED_TRACE(label);
    const auto got = sdpa_forward(q, k, v, causal, gqa, AttentionBackend::fused);
    const auto want = sdpa_forward(q, repeat(k), repeat(v), causal, full, AttentionBackend::fused);
    EXPECT_TRUE(test::tensors_close("out", got.out, want.out, 1e-6));
    EXPECT_TRUE(test::tensors_close("lse", got.lse, want.lse, 1e-6));
    SdpaOptions plain = gqa;
    plain.softcap = 0.0;
    SdpaOptions plain_full = full;
    plain_full.softcap = 0.0;
    const auto gotb = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), causal, plain);
    const auto wantb = sdpa_forward(to_bf16(q), to_bf16(repeat(k)), to_bf16(repeat(v)), causal, plain_full);
    EXPECT_TRUE(test::tensors_close("bf16 out", gotb.out, wantb.out, 1e-6));
    EXPECT_TRUE(test::tensors_close("bf16 lse", gotb.lse, wantb.lse, 1e-6));
  });
}

TEST(OpSdpaVariants, LeadingDimsFoldWithFewerKeyValueHeadsAndPerBatchSlopes) {
  // (b1, b2, H, L, d) with k, v on Hkv heads and slopes (b1, b2, H): as the folded (B, H) call.
  Rng rng(53);
  const TensorD q = test::randn({2, 3, 4, 5, 4}, rng), k = test::randn({2, 3, 2, 6, 4}, rng),
                v = test::randn({2, 3, 2, 6, 3}, rng), dout = test::randn({2, 3, 4, 5, 3}, rng);
  SdpaOptions o;
  o.enable_gqa = true;
  o.window_left = 2;
  TensorF slopes({2, 3, 4});
  for (int64_t i = 0; i < slopes.numel(); ++i) slopes[i] = 0.1f * static_cast<float>(i % 5);
  o.alibi_slopes = slopes;
  const auto f = sdpa_forward_nd(q, k, v, {}, o);
  const auto g = sdpa_backward_nd(dout, q, k, v, f, {}, o);
  SdpaOptions of = o;
  of.alibi_slopes = slopes.reshape({6, 4});
  const auto ff = sdpa_forward(q.reshape({6, 4, 5, 4}), k.reshape({6, 2, 6, 4}), v.reshape({6, 2, 6, 3}), {}, of);
  EXPECT_TRUE(test::tensors_close("out", f.out.reshape({6, 4, 5, 3}), ff.out, 1e-12));
  EXPECT_EQ(g.dk.shape(), k.shape());
  EXPECT_EQ(g.dv.shape(), v.shape());
}

TEST(OpSdpaVariants, BadVariantArgumentsAreClearErrors) {
  const TensorF q({1, 4, 3, 2}), k3({1, 3, 3, 2}), v3({1, 3, 3, 2}), k2({1, 2, 3, 2}), v2({1, 2, 3, 2});
  SdpaOptions none, gqa;
  gqa.enable_gqa = true;
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q, k2, v2, {}, none); }).find("need enable_gqa"),
            std::string::npos);
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q, k3, v3, {}, gqa); }).find("H_kv dividing the 4 heads"),
            std::string::npos);
  const TensorF q4({1, 4, 3, 2}), k4({1, 4, 3, 2});
  SdpaOptions w;
  w.window_left = -2;
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q4, k4, k4, {}, w); }).find("'window_left' is -2"),
            std::string::npos);
  SdpaOptions cap;
  cap.softcap = -1.0;
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q4, k4, k4, {}, cap); }).find("'softcap' is -1"),
            std::string::npos);
  SdpaOptions alibi;
  alibi.alibi_slopes = TensorF::from({3}, {1, 2, 3});
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q4, k4, k4, {}, alibi); }).find("'alibi_slopes' has shape (3,); expected (4,) or (1, 4)"),
            std::string::npos);
  alibi.alibi_slopes = TensorF::from({4}, {1, 2, NAN, 3});
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(q4, k4, k4, {}, alibi); }).find("NaN or inf"),
            std::string::npos);
}
