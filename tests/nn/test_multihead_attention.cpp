// nn::MultiheadAttention: shapes (the textbook example), gradients in float64, self vs cross
// attention, kdim/vdim, per-head weights, masks, causal, dropout, permutation equivariance.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "gradcheck.h"
#include "qkv/nn/multihead_attention.h"

namespace {

using qkv::Rng;
using qkv::TensorB;
using qkv::TensorD;
using qkv::TensorF;
using qkv::nn::MhaCall;
using qkv::nn::MhaOptions;
using qkv::nn::MultiheadAttention;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

MhaOptions opts(int64_t E, int64_t H, bool bias = true, int64_t kdim = 0, int64_t vdim = 0, int64_t hd = 0) {
  MhaOptions o;
  o.embed_dim = E;
  o.num_heads = H;
  o.bias = bias;
  o.kdim = kdim;
  o.vdim = vdim;
  o.head_dim = hd;
  return o;
}

// Random (non-zero) biases so that their gradients are exercised.
void randomise_biases(MultiheadAttention<double>& m, Rng& rng) {
  for (auto& [name, p] : m.named_parameters())
    if (name.find("bias") != std::string::npos)
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] = rng.normal() * 0.3;
}

// Checks every parameter gradient and the input gradients of L = Σ out ∘ G against central
// differences. self_attention: query, key and value are the same tensor.
void check_module_gradients(MultiheadAttention<double>& m, TensorD& q, TensorD& k, TensorD& v, bool self_attention,
                            const MhaCall& call) {
  Rng rng(99);
  auto run = [&]() -> const TensorD& { return self_attention ? m.self_attention(q, call) : m.forward(q, k, v, call); };
  TensorD out = run().clone();
  TensorD G = randn(out.shape(), rng);
  auto loss = [&] { return qkv::test::dot(run(), G); };
  m.zero_grad();
  run();
  auto g = m.backward(G);
  TensorD dq = g.dquery.clone();
  ASSERT_EQ(self_attention, m.last_was_self_attention());
  if (self_attention) {
    EXPECT_FALSE(g.dkey.defined());
    EXPECT_TRUE(grad_close("dquery", dq, numeric_grad(q, loss)));
  } else {
    TensorD dk = g.dkey.clone(), dv = g.dvalue.clone();
    EXPECT_TRUE(grad_close("dquery", dq, numeric_grad(q, loss)));
    EXPECT_TRUE(grad_close("dkey", dk, numeric_grad(k, loss)));
    EXPECT_TRUE(grad_close("dvalue", dv, numeric_grad(v, loss)));
  }
  for (auto& [name, p] : m.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(grad_close(name, analytic, numeric_grad(p->value, loss)));
  }
}

TEST(MhaShapes, TextbookEightHeadsOfWidthThree) {
  // X is 2×4 (two tokens, E = 4); 8 heads of width 3: each Z is 2×3, the concatenation 2×24,
  // and W_O (24×4, stored PyTorch-style as out_proj.weight (4, 24)) brings it back to 2×4.
  Rng rng(1);
  MultiheadAttention<double> m(opts(4, 8, true, 0, 0, 3), rng);
  EXPECT_EQ(m.head_dim(), 3);
  EXPECT_EQ(m.in_proj_weight.value.shape(), (qkv::Shape{3 * 24, 4}));
  EXPECT_EQ(m.out_proj.weight.value.shape(), (qkv::Shape{4, 24}));
  TensorD x = randn({1, 2, 4}, rng);
  const TensorD& out = m.self_attention(x);
  EXPECT_EQ(out.shape(), (qkv::Shape{1, 2, 4}));
  const TensorD& z = m.head_outputs();
  EXPECT_EQ(z.shape(), (qkv::Shape{1, 8, 2, 3}));
  const TensorD& cat = m.concatenated();
  EXPECT_EQ(cat.shape(), (qkv::Shape{1, 2, 24}));
  // The concatenation is head after head, and out = concat · W_Oᵀ + b.
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t h = 0; h < 8; ++h)
      for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(cat.at({0, t, h * 3 + c}), z.at({0, h, t, c}));
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t e = 0; e < 4; ++e) {
      double acc = m.out_proj.bias.value[e];
      for (int64_t c = 0; c < 24; ++c) acc += cat.at({0, t, c}) * m.out_proj.weight.value.at({e, c});
      EXPECT_NEAR(out.at({0, t, e}), acc, 1e-12);
    }
}

TEST(MhaInit, LikePyTorch) {
  Rng rng(2);
  MultiheadAttention<float> m(opts(16, 4), rng);
  double bound = std::sqrt(6.0 / (16 + 48));
  double mx = qkv::test::max_abs(m.in_proj_weight.value);
  EXPECT_LE(mx, bound);
  EXPECT_GT(mx, 0.8 * bound);
  EXPECT_EQ(qkv::test::max_abs(m.in_proj_bias.value), 0.0);
  EXPECT_EQ(qkv::test::max_abs(m.out_proj.bias.value), 0.0);
  EXPECT_LE(qkv::test::max_abs(m.out_proj.weight.value), 1.0 / std::sqrt(16.0));
  std::vector<std::string> names;
  for (auto& [n, p] : m.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  MultiheadAttention<float> c(opts(8, 2, false, 5, 3), rng);
  names.clear();
  for (auto& [n, p] : c.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}));
  EXPECT_EQ(c.k_proj_weight.value.shape(), (qkv::Shape{8, 5}));
  EXPECT_EQ(c.v_proj_weight.value.shape(), (qkv::Shape{8, 3}));
}

TEST(MhaGradcheck, SelfAttentionFused) {
  Rng rng(3);
  MultiheadAttention<double> m(opts(6, 2), rng);
  randomise_biases(m, rng);
  TensorD x = randn({2, 3, 6}, rng), none;
  check_module_gradients(m, x, none, none, true, {});
}

TEST(MhaGradcheck, SelfAttentionNoBiasCausalWithPaddingMask) {
  Rng rng(4);
  MultiheadAttention<double> m(opts(6, 3, false), rng);
  TensorD x = randn({2, 4, 6}, rng), none;
  MhaCall call;
  call.is_causal = true;
  call.key_padding_mask = TensorB::from({2, 4}, {0, 0, 0, 1, 0, 0, 1, 1});
  check_module_gradients(m, x, none, none, true, call);
}

TEST(MhaGradcheck, CrossAttentionPackedWeights) {
  Rng rng(5);
  MultiheadAttention<double> m(opts(4, 2), rng);
  randomise_biases(m, rng);
  TensorD q = randn({2, 3, 4}, rng), k = randn({2, 5, 4}, rng), v = randn({2, 5, 4}, rng);
  MhaCall call;
  call.attn_bias = randn<float>({3, 5}, rng);
  check_module_gradients(m, q, k, v, false, call);
}

TEST(MhaGradcheck, CrossAttentionKdimVdimTextbookHeads) {
  Rng rng(6);
  MultiheadAttention<double> m(opts(4, 3, true, 5, 2, 2), rng);
  randomise_biases(m, rng);
  TensorD q = randn({2, 2, 4}, rng), k = randn({2, 3, 5}, rng), v = randn({2, 3, 2}, rng);
  MhaCall call;
  call.key_padding_bias = randn<float>({2, 3}, rng);
  call.attn_mask = TensorB::from({6, 2, 3}, {0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0,
                                             0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0});
  check_module_gradients(m, q, k, v, false, call);
}

TEST(MhaGradcheck, FullyMaskedRowGivesZeroGradientNotNaN) {
  Rng rng(7);
  MultiheadAttention<double> m(opts(4, 2), rng);
  randomise_biases(m, rng);
  TensorD x = randn({1, 3, 4}, rng), none;
  MhaCall call;
  call.attn_mask = TensorB::from({3, 3}, {1, 1, 1, 0, 0, 1, 0, 0, 0});  // query 0 sees nothing
  check_module_gradients(m, x, none, none, true, call);
  const TensorD& z = m.head_outputs();
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t c = 0; c < 2; ++c) EXPECT_EQ(z.at({0, h, 0, c}), 0.0);
  EXPECT_TRUE(qkv::test::all_finite(m.in_proj_weight.grad));
}

TEST(MhaSelfVsCross, SameResultsAndSummedInputGradient) {
  Rng rng(8);
  MultiheadAttention<double> m(opts(8, 2), rng);
  randomise_biases(m, rng);
  TensorD x = randn({2, 5, 8}, rng);
  TensorD x2 = x.clone(), x3 = x.clone();
  TensorD G = randn({2, 5, 8}, rng);
  m.zero_grad();
  TensorD self_out = m.self_attention(x).clone();
  EXPECT_TRUE(m.last_was_self_attention());
  TensorD dself = m.backward(G).dquery.clone();
  auto self_grads = m.state_dict();
  std::vector<TensorD> gs;
  for (auto& [n, p] : m.named_parameters()) gs.push_back(p->grad.clone());
  m.zero_grad();
  TensorD cross_out = m.forward(x, x2, x3).clone();
  EXPECT_FALSE(m.last_was_self_attention());
  auto g = m.backward(G);
  EXPECT_TRUE(tensors_close("out", cross_out, self_out, 1e-13));
  TensorD sum = g.dquery.clone();
  for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += g.dkey[i] + g.dvalue[i];
  EXPECT_TRUE(tensors_close("dquery", sum, dself, 1e-12));
  size_t i = 0;
  for (auto& [n, p] : m.named_parameters()) EXPECT_TRUE(tensors_close(n, p->grad, gs[i++], 1e-12));
}

// Self-attention is asked for, never guessed: forward with one tensor three times is
// cross-attention (three projections, three input gradients) with the same results.
TEST(MhaSelfVsCross, ForwardWithTheSameTensorIsCrossAttention) {
  Rng rng(9);
  MultiheadAttention<double> m(opts(8, 2), rng);
  randomise_biases(m, rng);
  TensorD x = randn({2, 5, 8}, rng), G = randn({2, 5, 8}, rng);
  TensorD self_out = m.self_attention(x).clone();
  TensorD dself = m.backward(G).dquery.clone();
  TensorD cross_out = m.forward(x, x, x).clone();
  EXPECT_FALSE(m.last_was_self_attention());
  auto g = m.backward(G);
  ASSERT_TRUE(g.dkey.defined() && g.dvalue.defined());
  EXPECT_TRUE(tensors_close("out", cross_out, self_out, 1e-13));
  TensorD sum = g.dquery.clone();
  for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += g.dkey[i] + g.dvalue[i];
  EXPECT_TRUE(tensors_close("dquery + dkey + dvalue", sum, dself, 1e-12));
}

TEST(MhaWeights, PerHeadAndAveraged) {
  Rng rng(9);
  MultiheadAttention<float> m(opts(8, 4), rng);
  TensorF q = randn<float>({2, 3, 8}, rng), kv = randn<float>({2, 5, 8}, rng);
  MhaCall call;
  call.need_weights = true;
  call.average_attn_weights = false;
  TensorF out1 = m.forward(q, kv, kv, call).clone();
  TensorF per_head = m.weights().clone();
  ASSERT_EQ(per_head.shape(), (qkv::Shape{2, 4, 3, 5}));
  call.average_attn_weights = true;
  TensorF out2 = m.forward(q, kv, kv, call).clone();
  const TensorF& avg = m.weights();
  ASSERT_EQ(avg.shape(), (qkv::Shape{2, 3, 5}));
  EXPECT_TRUE(tensors_close("out", out2, out1, 0));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 3; ++i) {
      double row = 0;
      for (int64_t j = 0; j < 5; ++j) {
        double mean = 0;
        for (int64_t h = 0; h < 4; ++h) mean += per_head.at({b, h, i, j}) / 4;
        EXPECT_NEAR(avg.at({b, i, j}), mean, 1e-6);
        row += avg.at({b, i, j});
      }
      EXPECT_NEAR(row, 1.0, 1e-5);
    }
  call.need_weights = false;
  m.forward(q, kv, kv, call);
  EXPECT_FALSE(m.weights().defined());
}

TEST(MhaMasks, PolarityBoolEqualsMinusInfinityAndPaddingIsIgnored) {
  Rng rng(10);
  MultiheadAttention<float> m(opts(8, 2), rng);
  TensorF x = randn<float>({2, 4, 8}, rng);
  const float inf = std::numeric_limits<float>::infinity();
  MhaCall a;
  a.need_weights = true;
  a.key_padding_mask = TensorB::from({2, 4}, {0, 0, 1, 0, 0, 1, 1, 1});
  TensorF out_bool = m.self_attention(x, a).clone();
  TensorF w = m.weights().clone();
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(w.at({0, i, 2}), 0.0f);
    for (int64_t j = 1; j < 4; ++j) EXPECT_EQ(w.at({1, i, j}), 0.0f);
    EXPECT_NEAR(w.at({1, i, 0}), 1.0f, 1e-6);
  }
  MhaCall b;
  b.key_padding_bias = TensorF::from({2, 4}, {0, 0, -inf, 0, 0, -inf, -inf, -inf});
  EXPECT_TRUE(tensors_close("float padding mask", m.self_attention(x, b), out_bool, 1e-6));
  // The same through a per-head (B·H, Lq, Lk) boolean attn_mask.
  MhaCall c;
  c.attn_mask = TensorB({4, 4, 4});
  for (int64_t bh = 0; bh < 4; ++bh)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j) c.attn_mask.at({bh, i, j}) = a.key_padding_mask.at({bh / 2, j});
  EXPECT_TRUE(tensors_close("per-head attn_mask", m.self_attention(x, c), out_bool, 1e-6));
  // Bool attn_mask combined with a float padding mask, and float attn_mask with bool padding.
  MhaCall d;
  d.attn_mask = TensorB::from({4, 4}, {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  d.key_padding_bias = TensorF::from({2, 4}, {0.5f, 0, 0, -1, 0, 0, 2, 0});
  MhaCall e;
  e.attn_bias = TensorF::from({4, 4}, {0, -inf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -inf});
  e.key_padding_bias = d.key_padding_bias;
  EXPECT_TRUE(tensors_close("bool+float", m.self_attention(x, d).clone(), m.self_attention(x, e), 1e-6));
}

TEST(MhaMasks, CausalEqualsExplicitMask) {
  Rng rng(11);
  MultiheadAttention<float> m(opts(6, 3), rng);
  TensorF x = randn<float>({2, 5, 6}, rng);
  MhaCall causal;
  causal.is_causal = true;
  causal.need_weights = true;
  TensorF out = m.self_attention(x, causal).clone();
  TensorF w = m.weights().clone();
  MhaCall expl;
  expl.attn_mask = TensorB({5, 5});
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = i + 1; j < 5; ++j) expl.attn_mask.at({i, j}) = 1;
  EXPECT_TRUE(tensors_close("causal", m.self_attention(x, expl), out, 1e-6));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = i + 1; j < 5; ++j) EXPECT_EQ(w.at({b, i, j}), 0.0f);
}

TEST(MhaEquivariance, PermutingTokensPermutesOutputs) {
  Rng rng(12);
  MultiheadAttention<float> m(opts(8, 2), rng);
  TensorF x = randn<float>({1, 6, 8}, rng);
  const std::vector<int64_t> perm{3, 0, 5, 1, 4, 2};
  TensorF px({1, 6, 8});
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t e = 0; e < 8; ++e) px.at({0, t, e}) = x.at({0, perm[t], e});
  TensorF out = m.self_attention(x).clone();
  TensorF pout = m.self_attention(px).clone();
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t e = 0; e < 8; ++e) EXPECT_NEAR(pout.at({0, t, e}), out.at({0, perm[t], e}), 1e-5);
}

TEST(MhaDropout, TrainingOnlySeededAndDifferentiable) {
  Rng rng(13);
  MhaOptions o = opts(4, 2);
  o.dropout = 0.5;
  MultiheadAttention<double> m(o, rng);
  TensorD x = randn({2, 4, 4}, rng);
  MhaCall eval;
  TensorD a = m.self_attention(x, eval).clone();
  MhaCall train;
  train.training = true;
  train.dropout_seed = 42;
  TensorD b = m.self_attention(x, train).clone();
  TensorD c = m.self_attention(x, train).clone();
  EXPECT_TRUE(tensors_close("same seed", c, b, 0));
  EXPECT_FALSE(tensors_close("dropout changes the output", b, a, 1e-6));
  TensorD none;
  check_module_gradients(m, x, none, none, true, train);
}

TEST(MhaFloat, AgreesWithDoubleAndReusesBuffers) {
  Rng rng(14);
  MultiheadAttention<double> md(opts(16, 4), rng);
  Rng rng2(14);
  MultiheadAttention<float> mf(opts(16, 4), rng2);
  TensorD x = randn({3, 7, 16}, rng);
  TensorF xf = x.cast<float>();
  TensorD G = randn({3, 7, 16}, rng);
  TensorF Gf = G.cast<float>();
  const TensorF& of = mf.self_attention(xf);
  const float* first = of.data();
  EXPECT_TRUE(tensors_close("out", of.cast<double>(), md.self_attention(x), 1e-5));
  TensorF dxf = mf.backward(Gf).dquery;
  const float* first_dx = dxf.data();
  EXPECT_TRUE(tensors_close("dquery", dxf.cast<double>(), md.backward(G).dquery, 1e-5));
  EXPECT_TRUE(
      tensors_close("in_proj_weight.grad", mf.in_proj_weight.grad.cast<double>(), md.in_proj_weight.grad, 1e-5));
  EXPECT_EQ(mf.self_attention(xf).data(), first);
  EXPECT_EQ(mf.backward(Gf).dquery.data(), first_dx);
}

// The module must not care which SDPA backend runs: automatic (the fused kernel when it supports
// the call) and reference agree on outputs, weights and every gradient, for every mask kind.
TEST(MhaBackends, AutomaticAndReferenceAgree) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<MhaCall> calls(6);
  calls[1].key_padding_mask = TensorB::from({2, 6}, {0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0});
  calls[2].attn_bias = TensorF::from({5, 6}, {0,    -1,   0.5f, 0, 0,    -inf, 0, 0, 0, 0, 0, 0, 0,   0, 0,
                                              -inf, -inf, -inf, 0, 0, 0.3f, 0,  0, 0, 0, 0, 0, 0.7f, 0, 0});
  calls[3].is_causal = true;
  calls[3].key_padding_bias = TensorF::from({2, 6}, {0, 0, 0, 0, 0, -2, 1, 0, 0, 0, 0, 0});
  calls[4].training = true;
  calls[4].dropout_seed = 7;
  calls[5].attn_mask = TensorB({3 * 2, 5, 6});
  calls[5].attn_mask.at({1, 2, 3}) = 1;
  calls[5].attn_mask.at({4, 0, 0}) = 1;
  for (size_t c = 0; c < calls.size(); ++c) {
    SCOPED_TRACE("call " + std::to_string(c));
    MhaCall call = calls[c];
    call.need_weights = true;
    call.average_attn_weights = false;
    TensorF out[2], w[2], dq[2], dk[2], grad[2];
    for (int b = 0; b < 2; ++b) {
      Rng rng(16);
      MhaOptions o = opts(12, 3);
      o.dropout = 0.25;
      o.backend = b == 0 ? qkv::AttentionBackend::automatic : qkv::AttentionBackend::reference;
      MultiheadAttention<float> m(o, rng);
      TensorF q = randn<float>({2, 5, 12}, rng), kv = randn<float>({2, 6, 12}, rng), G = randn<float>({2, 5, 12}, rng);
      out[b] = m.forward(q, kv, kv, call).clone();
      w[b] = m.weights().clone();
      auto g = m.backward(G);
      dq[b] = g.dquery.clone();
      dk[b] = g.dkey.clone();
      grad[b] = m.in_proj_weight.grad.clone();
    }
    EXPECT_TRUE(tensors_close("out", out[0], out[1], 1e-5));
    EXPECT_TRUE(tensors_close("weights", w[0], w[1], 1e-5));
    EXPECT_TRUE(tensors_close("dquery", dq[0], dq[1], 1e-5));
    EXPECT_TRUE(tensors_close("dkey", dk[0], dk[1], 1e-5));
    EXPECT_TRUE(tensors_close("in_proj_weight.grad", grad[0], grad[1], 1e-5));
  }
}

TEST(MhaErrors, BadArgumentsThrowNamingTheArgument) {
  Rng rng(15);
  auto msg = [](auto&& f) {
    try {
      f();
    } catch (const qkv::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg([&] { MultiheadAttention<float>(opts(10, 3), rng); }).find("divisible"), std::string::npos);
  EXPECT_NE(msg([&] { MultiheadAttention<float>(opts(0, 1), rng); }).find("embed_dim"), std::string::npos);
  MultiheadAttention<float> m(opts(8, 2, true, 3, 5), rng);
  TensorF q({2, 3, 8}), k({2, 4, 3}), v({2, 4, 5});
  EXPECT_NE(msg([&] { m.forward(q, v, v); }).find("'key'"), std::string::npos);
  EXPECT_NE(msg([&] { m.forward(q, k, TensorF({2, 3, 5})); }).find("'value'"), std::string::npos);
  EXPECT_NE(msg([&] { m.forward(TensorF({2, 3, 7}), k, v); }).find("'query'"), std::string::npos);
  MhaCall bad;
  bad.key_padding_mask = TensorB({2, 3});
  EXPECT_NE(msg([&] { m.forward(q, k, v, bad); }).find("'key_padding_mask'"), std::string::npos);
  MhaCall bad2;
  bad2.attn_bias = TensorF({3, 3, 4});
  EXPECT_NE(msg([&] { m.forward(q, k, v, bad2); }).find("'attn_mask'"), std::string::npos);
  MultiheadAttention<float> fresh(opts(8, 2), rng);
  EXPECT_NE(msg([&] { fresh.backward(TensorF({2, 3, 8})); }).find("before forward"), std::string::npos);
  MhaCall both;
  both.attn_mask = TensorB({3, 4});
  both.attn_bias = TensorF({3, 4});
  EXPECT_NE(msg([&] { m.forward(q, k, v, both); }).find("not both"), std::string::npos);
  m.forward(q, k, v);
  EXPECT_NE(msg([&] { m.backward(TensorF({2, 3, 7})); }).find("'dout'"), std::string::npos);
}

TEST(MhaSteadyState, TrainingStepsReuseEveryBuffer) {
  // Issue 4: in steady state a training step (forward + backward, dropout on, per-head weights)
  // reuses its buffers: every tensor it returns or exposes (out, head outputs = the saved SDPA
  // output, concatenation, weights, dquery) keeps its storage from step to step, and the results
  // are those of a fresh module (the attention goes through sdpa_*_into).
  Rng rng(12);
  MhaOptions o = opts(16, 4);
  o.dropout = 0.1;
  Rng rng_a(5), rng_b(5);
  MultiheadAttention<float> m(o, rng_a), fresh(o, rng_b);
  MhaCall call;
  call.training = true;
  call.need_weights = true;
  call.average_attn_weights = false;
  const TensorF x1 = randn<float>({3, 9, 16}, rng), x2 = randn<float>({3, 9, 16}, rng);
  const TensorF dy = randn<float>({3, 9, 16}, rng);
  std::vector<const float*> first;
  for (int step = 0; step < 3; ++step) {
    const TensorF& x = step == 1 ? x1 : x2;
    call.dropout_seed = 100 + static_cast<uint64_t>(step);
    const TensorF& y = m.self_attention(x, call);
    const qkv::nn::MhaGrads<float> g = m.backward(dy);
    std::vector<const float*> now = {y.data(), m.head_outputs().data(), m.concatenated().data(), m.weights().data(),
                                     g.dquery.data()};
    if (step == 0) first = now;
    for (size_t t = 0; t < now.size(); ++t) EXPECT_EQ(now[t], first[t]) << "tensor " << t << " at step " << step;
    if (step == 2) {  // the same as a fresh module's first step on this input
      const TensorF want_y = fresh.self_attention(x, call).clone();
      const TensorF want_w = fresh.weights().clone();
      const TensorF want_dx = fresh.backward(dy).dquery.clone();
      EXPECT_TRUE(tensors_close("y", y, want_y, 0.0));
      EXPECT_TRUE(tensors_close("weights", m.weights(), want_w, 0.0));
      EXPECT_TRUE(tensors_close("dquery", g.dquery, want_dx, 0.0));
    }
  }
}

}  // namespace

MhaOptions gqa_opts(int64_t E, int64_t H, int64_t Hkv, int64_t kdim = 0) {
  MhaOptions o = opts(E, H, true, kdim, kdim);
  o.num_kv_heads = Hkv;
  return o;
}

TEST(MhaGroupedQuery, GradientsWithFewerKeyValueHeads) {
  Rng rng(61);
  MultiheadAttention<double> m(gqa_opts(8, 4, 2), rng);
  randomise_biases(m, rng);
  EXPECT_EQ(m.k_proj_weight.value.shape(), (qkv::Shape{4, 8}));  // 2 heads of width 2
  EXPECT_EQ(m.in_proj_bias.value.shape(), (qkv::Shape{16}));    // (4 + 2·2)·2
  TensorD q = randn({2, 3, 8}, rng), k = randn({2, 5, 8}, rng), v = randn({2, 5, 8}, rng);
  MhaCall call;
  call.key_padding_mask = TensorB::from({2, 5}, {0, 0, 0, 1, 1, 0, 0, 0, 0, 0});
  check_module_gradients(m, q, k, v, false, call);
  MultiheadAttention<double> mq(gqa_opts(6, 3, 1), rng);  // multi-query
  randomise_biases(mq, rng);
  TensorD xq = randn({2, 4, 6}, rng), xk = randn({2, 4, 6}, rng), xv = randn({2, 4, 6}, rng);
  MhaCall causal;
  causal.is_causal = true;
  check_module_gradients(mq, xq, xk, xv, false, causal);
}

TEST(MhaGroupedQuery, EqualsFullHeadsWithRepeatedKeyValueWeights) {
  const int64_t E = 8, H = 4, Hkv = 2, hd = 2, P = H * hd, Pkv = Hkv * hd, G = H / Hkv;
  Rng rng(62);
  MultiheadAttention<double> g(gqa_opts(E, H, Hkv), rng), full(opts(E, H), rng);
  randomise_biases(g, rng);
  // full's in_proj rows: q, then k and v with each key/value head's rows repeated for its G query heads.
  for (int64_t r = 0; r < P; ++r) {
    const int64_t src = (r / hd) / G * hd + r % hd;  // head h → key/value head h / G
    for (int64_t c = 0; c < E; ++c) {
      full.in_proj_weight.value[r * E + c] = g.q_proj_weight.value[r * E + c];
      full.in_proj_weight.value[(P + r) * E + c] = g.k_proj_weight.value[src * E + c];
      full.in_proj_weight.value[(2 * P + r) * E + c] = g.v_proj_weight.value[src * E + c];
    }
    full.in_proj_bias.value[r] = g.in_proj_bias.value[r];
    full.in_proj_bias.value[P + r] = g.in_proj_bias.value[P + src];
    full.in_proj_bias.value[2 * P + r] = g.in_proj_bias.value[P + Pkv + src];
  }
  full.out_proj.weight.value.copy_from(g.out_proj.weight.value);
  full.out_proj.bias.value.copy_from(g.out_proj.bias.value);
  TensorD q = randn({2, 3, E}, rng), k = randn({2, 5, E}, rng), v = randn({2, 5, E}, rng);
  EXPECT_TRUE(tensors_close("out", g.forward(q, k, v).clone(), full.forward(q, k, v).clone(), 1e-12));
}

TEST(MhaGroupedQuery, NumKvHeadsMustDivideNumHeads) {
  Rng rng(63);
  EXPECT_NE(qkv::test::error_message_of([&] { MultiheadAttention<double>(gqa_opts(6, 3, 2), rng); })
                .find("num_kv_heads is 2; expected 0 (num_heads) or a divisor of num_heads (3)"),
            std::string::npos);
}

TEST(MhaGroupedQuery, SelfAttentionReturnsTheWholeGradientOfX) {
  // With fewer key/value heads the projections are separate, yet self_attention(x) keeps its
  // contract: dquery is the whole gradient of x (dq + dk + dv of forward(x, x, x)), dkey and dvalue
  // undefined.
  Rng rng(64);
  MultiheadAttention<double> m(gqa_opts(8, 4, 2), rng);
  randomise_biases(m, rng);
  const TensorD x = randn({2, 5, 8}, rng), dy = randn({2, 5, 8}, rng);
  const TensorD y_self = m.self_attention(x, {}).clone();
  const qkv::nn::MhaGrads<double> g_self = m.backward(dy);
  const TensorD dx = g_self.dquery.clone();
  EXPECT_FALSE(g_self.dkey.defined());
  EXPECT_FALSE(g_self.dvalue.defined());
  m.zero_grad();
  const TensorD y = m.forward(x, x, x, {}).clone();
  const qkv::nn::MhaGrads<double> g = m.backward(dy);
  TensorD sum = g.dquery.clone();
  for (int64_t i = 0; i < sum.numel(); ++i) sum[i] += g.dkey[i] + g.dvalue[i];
  EXPECT_TRUE(tensors_close("y", y_self, y, 1e-12));
  EXPECT_TRUE(tensors_close("dx", dx, sum, 1e-12));
}
