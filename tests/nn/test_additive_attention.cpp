// AdditiveAttention: d2l's worked example, gradient checks of every input and parameter in
// float64, the step-by-step decoder API against the all-at-once call, hostile inputs.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/additive_attention.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

TEST(AttentionAdditive, D2lExampleUniformOverValidKeys) {
  // d2l: queries (2, 1, 20) normal, keys ones (2, 10, 2), values arange(40) as (10, 4) per batch,
  // valid_lens [2, 6]. Identical keys give uniform weights over the valid keys.
  Rng rng(0);
  AdditiveAttention<float> attn(/*key_size=*/2, /*query_size=*/20, /*num_hiddens=*/8, rng);
  TensorF queries = randn<float>({2, 1, 20}, rng), keys = TensorF::full({2, 10, 2}, 1.0f), values({2, 10, 4});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 40; ++i) values[b * 40 + i] = static_cast<float>(i);
  auto fwd = attn.forward(queries, keys, values, TensorI::from({2}, {2, 6}));
  EXPECT_EQ(fwd.out().shape(), (Shape{2, 1, 4}));
  std::vector<float> expect{2, 3, 4, 5, 10, 11, 12, 13};
  auto out = fwd.out().to_vector();
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(out[i], expect[i], 1e-5);
  EXPECT_NEAR(fwd.weights().at({0, 0, 1}), 0.5f, 1e-6);
  EXPECT_EQ(fwd.weights().at({0, 0, 2}), 0.0f);
  EXPECT_NEAR(fwd.weights().at({1, 0, 5}), 1.0f / 6, 1e-6);
}

TEST(AttentionAdditive, ParameterNamesAndShapes) {
  Rng rng(1);
  AdditiveAttention<float> attn(3, 5, 7, rng);
  auto params = attn.named_parameters();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].first, "W_q.weight");
  EXPECT_EQ(params[0].second->value.shape(), (Shape{7, 5}));
  EXPECT_EQ(params[1].first, "W_k.weight");
  EXPECT_EQ(params[1].second->value.shape(), (Shape{7, 3}));
  EXPECT_EQ(params[2].first, "w_v.weight");
  EXPECT_EQ(params[2].second->value.shape(), (Shape{1, 7}));
}

TEST(AttentionAdditive, GradAllInputsAndParameters) {
  Rng rng(2);
  const int64_t B = 2, Lq = 3, Lk = 4, qs = 5, ks = 2, h = 6, dv = 3;
  AdditiveAttention<double> attn(ks, qs, h, rng);
  TensorD queries = randn({B, Lq, qs}, rng), keys = randn({B, Lk, ks}, rng), values = randn({B, Lk, dv}, rng);
  TensorD g = randn({B, Lq, dv}, rng);
  TensorI lens = TensorI::from({B, Lq}, {4, 2, 0, 1, 3, 4});
  attn.zero_grad();
  auto fwd = attn.forward(queries, keys, values, lens);
  auto grads = attn.backward(g);
  auto loss = [&] { return test::dot(attn.forward(queries, keys, values, lens).out(), g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(queries, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(keys, loss)));
  EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(values, loss)));
  EXPECT_TRUE(grad_close("dW_q", attn.W_q.grad, numeric_grad(attn.W_q.value, loss)));
  EXPECT_TRUE(grad_close("dW_k", attn.W_k.grad, numeric_grad(attn.W_k.value, loss)));
  EXPECT_TRUE(grad_close("dw_v", attn.w_v.grad, numeric_grad(attn.w_v.value, loss)));
  // The query row with length 0: zero output and zero gradient.
  for (int64_t c = 0; c < dv; ++c) EXPECT_EQ(fwd.out().at({0, 2, c}), 0.0);
  for (int64_t c = 0; c < qs; ++c) EXPECT_EQ(grads.dq.at({0, 2, c}), 0.0);
}

TEST(AttentionAdditive, StepByStepMatchesAllAtOnce) {
  Rng rng(3);
  const int64_t B = 3, T = 4, Lk = 5, qs = 6, ks = 6, h = 8;
  AdditiveAttention<double> attn(ks, qs, h, rng);
  TensorD queries = randn({B, T, qs}, rng), enc = randn({B, Lk, ks}, rng), g = randn({B, T, ks}, rng);
  TensorI lens = TensorI::from({B}, {5, 3, 1});

  attn.zero_grad();
  auto fwd = attn.forward(queries, enc, enc, lens);
  auto all = attn.backward(g);
  std::vector<TensorD> pgrads_all;
  for (auto& [name, p] : attn.named_parameters()) pgrads_all.push_back(p->grad.clone());

  attn.zero_grad();
  AdditiveMemory<double> mem = attn.prepare(enc, enc, lens);
  std::vector<AdditiveStep<double>> steps;
  for (int64_t t = 0; t < T; ++t) {
    steps.push_back(attn.step(mem, queries.slice(1, t, t + 1)));
    EXPECT_TRUE(tensors_close("step out", steps.back().out, fwd.out().slice(1, t, t + 1).contiguous(), 1e-14));
    EXPECT_EQ(steps.back().out.shape(), (Shape{B, 1, ks}));
  }
  TensorD dq({B, T, qs});
  for (int64_t t = T; t-- > 0;) {
    TensorD dq_t = attn.step_backward(mem, steps[t], g.slice(1, t, t + 1).contiguous());
    dq.slice(1, t, t + 1).copy_from(dq_t);
  }
  auto mg = attn.memory_backward(mem);
  EXPECT_FALSE(mg.dq.defined());
  EXPECT_TRUE(tensors_close("dq", dq, all.dq, 1e-12));
  EXPECT_TRUE(tensors_close("dk", mg.dk, all.dk, 1e-12));
  EXPECT_TRUE(tensors_close("dv", mg.dv, all.dv, 1e-12));
  size_t i = 0;
  for (auto& [name, p] : attn.named_parameters()) EXPECT_TRUE(tensors_close(name, p->grad, pgrads_all[i++], 1e-12));
  // The accumulators were reset: a second memory_backward gives zeros.
  EXPECT_EQ(test::max_abs(attn.memory_backward(mem).dk), 0.0);
}

TEST(AttentionAdditive, HostileInputs) {
  Rng rng(4);
  AdditiveAttention<float> attn(3, 5, 4, rng);
  TensorF q({2, 1, 5}), k({2, 6, 3}), v({2, 6, 2});
  EXPECT_NO_THROW(attn.forward(q, k, v));
  EXPECT_THROW(attn.forward(TensorF({2, 1, 4}), k, v), Error);   // query_size
  EXPECT_THROW(attn.forward(q, TensorF({2, 6, 4}), v), Error);   // key_size
  EXPECT_THROW(attn.forward(q, k, TensorF({2, 5, 2})), Error);   // values length
  EXPECT_THROW(attn.forward(TensorF({3, 1, 5}), k, v), Error);   // batch
  EXPECT_THROW(attn.forward(q, k, v, TensorI::from({2}, {7, 1})), Error);
  EXPECT_THROW(attn.forward(q, k, v, TensorI::from({2, 2}, {1, 1, 1, 1})), Error);  // (B, Lq) with Lq = 1
  EXPECT_THROW(attn.forward(TensorF({2, 5}), k, v), Error);
  AdditiveAttention<float> fresh(3, 5, 4, rng);
  EXPECT_THROW(fresh.backward(TensorF({2, 1, 2})), Error);  // before forward
  attn.forward(q, k, v);
  EXPECT_THROW(attn.backward(TensorF({2, 1, 3})), Error);
  AdditiveMemory<float> empty;
  EXPECT_THROW(attn.step(empty, q), Error);
  AdditiveAttention<float> blank;
  EXPECT_THROW(blank.forward(q, k, v), Error);
  EXPECT_THROW(AdditiveAttention<float>(0, 5, 4, rng), Error);
}

TEST(AttentionAdditive, DropoutIsSeededAndGradientChecked) {
  Rng rng(5);
  const int64_t B = 2, Lq = 3, Lk = 6, qs = 4, ks = 3, h = 5, dv = 2;
  AdditiveAttention<double> attn(ks, qs, h, rng);
  TensorD queries = randn({B, Lq, qs}, rng), keys = randn({B, Lk, ks}, rng), values = randn({B, Lk, dv}, rng);
  TensorD g = randn({B, Lq, dv}, rng);
  TensorI lens = TensorI::from({B}, {6, 4});
  const double p = 0.3;
  const uint64_t seed = 17;
  auto plain = attn.forward(queries, keys, values, lens);
  auto a = attn.forward(queries, keys, values, lens, p, seed);
  auto b = attn.forward(queries, keys, values, lens, p, seed);
  EXPECT_EQ(a.out().to_vector(), b.out().to_vector());
  EXPECT_EQ(a.weights().to_vector(), plain.weights().to_vector());  // pre-dropout weights
  int64_t zeroed = 0;
  for (int64_t x = 0; x < a.step.dropped.numel(); ++x) {
    const double w = a.step.weights[x], d = a.step.dropped[x];
    if (w > 0 && d == 0) ++zeroed;
    if (d != 0) EXPECT_NEAR(d, w / (1 - p), 1e-15);
  }
  EXPECT_GT(zeroed, 0);
  attn.zero_grad();
  auto grads = attn.backward(g);
  auto loss = [&] { return test::dot(attn.forward(queries, keys, values, lens, p, seed).out(), g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(queries, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(keys, loss)));
  EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(values, loss)));
  EXPECT_TRUE(grad_close("dw_v", attn.w_v.grad, numeric_grad(attn.w_v.value, loss)));
  EXPECT_THROW(attn.forward(queries, keys, values, lens, 1.5), Error);
}
