// sdpa_shapes.h: inputs with any leading dims ((L, d), (N, L, d), (b1, b2, H, L, d)) give what the
// (B, H, L, d) API gives on the folded shapes, masks broadcast over the unfolded shapes (including
// a broadcast over some batch dims but not all), and errors name the argument and both shapes.
#include <gtest/gtest.h>

#include <string>

#include "gradcheck.h"
#include "qkv/ops/sdpa/sdpa_shapes.h"

using namespace qkv;
using qkv::test::randn;
using qkv::test::tensors_close;

namespace {

// The nd API on (lead..., L, w) inputs against sdpa_forward / sdpa_backward on `as4` views of
// the same data (and masks given to each in its own form): results equal bit for bit.
void expect_nd_matches_4d(const TensorD& q, const TensorD& k, const TensorD& v, const TensorD& dout,
                          const AttentionMask& mask_nd, const Shape& q4, const Shape& k4, const Shape& v4,
                          const AttentionMask& mask4) {
  SdpaOptions o;
  o.need_weights = true;
  o.dropout_p = 0.2;
  o.dropout_seed = 5;
  const SdpaForward<double> f = sdpa_forward_nd(q, k, v, mask_nd, o);
  const SdpaForward<double> f4 = sdpa_forward(q.reshape(q4), k.reshape(k4), v.reshape(v4), mask4, o);
  Shape out_shape = q.shape();
  out_shape.back() = v.shape().back();
  EXPECT_EQ(f.out.shape(), out_shape);
  EXPECT_TRUE(tensors_close("out", f.out, f4.out.reshape(out_shape), 0.0));
  Shape lse_shape(q.shape().begin(), q.shape().end() - 1);
  EXPECT_EQ(f.lse.shape(), lse_shape);
  EXPECT_EQ(f.lse.to_vector(), f4.lse.to_vector());  // −inf for rows with no visible key
  Shape w_shape = lse_shape;
  w_shape.push_back(k.shape()[k.shape().size() - 2]);
  EXPECT_TRUE(tensors_close("weights", f.weights, f4.weights.reshape(w_shape), 0.0));
  const SdpaGrads<double> g = sdpa_backward_nd(dout, q, k, v, f, mask_nd, o);
  const SdpaGrads<double> g4 =
      sdpa_backward(dout.reshape(f4.out.shape()), q.reshape(q4), k.reshape(k4), v.reshape(v4), f4, mask4, o);
  EXPECT_TRUE(tensors_close("dq", g.dq, g4.dq.reshape(q.shape()), 0.0));
  EXPECT_TRUE(tensors_close("dk", g.dk, g4.dk.reshape(k.shape()), 0.0));
  EXPECT_TRUE(tensors_close("dv", g.dv, g4.dv.reshape(v.shape()), 0.0));
}

}  // namespace

TEST(SdpaShapes, UnbatchedLd) {
  Rng rng(1);
  const TensorD q = randn({4, 3}, rng), k = randn({6, 3}, rng), v = randn({6, 2}, rng), g = randn({4, 2}, rng);
  AttentionMask m;
  m.allowed = TensorB::from({4, 6}, std::vector<uint8_t>{1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0,
                                                         1, 1, 1, 1, 1, 1});
  m.valid_lens = TensorI::from({4}, {5, 6, 3, 6});  // () batch dims followed by Lq
  AttentionMask m4;
  m4.allowed = m.allowed.view({1, 1, 4, 6});
  m4.valid_lens = m.valid_lens.view({1, 4});
  expect_nd_matches_4d(q, k, v, g, m, {1, 1, 4, 3}, {1, 1, 6, 3}, {1, 1, 6, 2}, m4);
}

TEST(SdpaShapes, BatchedNLd) {
  Rng rng(2);
  const TensorD q = randn({3, 4, 5}, rng), k = randn({3, 7, 5}, rng), v = randn({3, 7, 2}, rng),
                g = randn({3, 4, 2}, rng);
  AttentionMask m;
  m.causal = Causal::bottom_right;
  m.bias = TensorF::from({4, 7}, std::vector<float>(28, 0.5f));  // (Lq, Lk) for every batch entry
  m.valid_lens = TensorI::from({3}, {7, 2, 0});
  AttentionMask m4;
  m4.causal = Causal::bottom_right;
  m4.bias = m.bias.view({1, 1, 4, 7});
  m4.valid_lens = m.valid_lens;
  expect_nd_matches_4d(q, k, v, g, m, {3, 1, 4, 5}, {3, 1, 7, 5}, {3, 1, 7, 2}, m4);
}

TEST(SdpaShapes, SeveralBatchDimsAndAMaskBroadcastOverSomeOfThem) {
  Rng rng(3);
  const int64_t b1 = 2, b2 = 3, H = 2, Lq = 4, Lk = 5;
  const TensorD q = randn({b1, b2, H, Lq, 3}, rng), k = randn({b1, b2, H, Lk, 3}, rng),
                v = randn({b1, b2, H, Lk, 2}, rng), g = randn({b1, b2, H, Lq, 2}, rng);
  AttentionMask m;
  Rng mr(9);
  TensorB a({b1, 1, 1, Lq, Lk});  // differs over b1, shared over b2 and the heads
  for (int64_t i = 0; i < a.numel(); ++i) a[i] = mr.uniform() < 0.7;
  m.allowed = a;
  m.valid_lens = TensorI::from({b1, b2, Lq}, std::vector<int64_t>(b1 * b2 * Lq, 4));
  AttentionMask m4;
  m4.allowed = a.expand({b1, b2, 1, Lq, Lk}).contiguous().view({b1 * b2, 1, Lq, Lk});
  m4.valid_lens = m.valid_lens.view({b1 * b2, Lq});
  expect_nd_matches_4d(q, k, v, g, m, {b1 * b2, H, Lq, 3}, {b1 * b2, H, Lk, 3}, {b1 * b2, H, Lk, 2}, m4);
  // A mask shared by every batch entry stays a view: (Lq, Lk).
  AttentionMask shared;
  shared.allowed = a.select(0, 1).view({Lq, Lk});
  AttentionMask shared4;
  shared4.allowed = shared.allowed.view({1, 1, Lq, Lk});
  expect_nd_matches_4d(q, k, v, g, shared, {b1 * b2, H, Lq, 3}, {b1 * b2, H, Lk, 3}, {b1 * b2, H, Lk, 2}, shared4);
}

TEST(SdpaShapes, Bf16AndFloatTakeTheSameShapes) {
  Rng rng(4);
  const TensorF q = randn<float>({5, 8}, rng), k = randn<float>({6, 8}, rng), v = randn<float>({6, 4}, rng);
  Tensor<bf16> qb(q.shape()), kb(k.shape()), vb(v.shape());
  for (int64_t i = 0; i < q.numel(); ++i) qb[i] = bf16(q[i]);
  for (int64_t i = 0; i < k.numel(); ++i) kb[i] = bf16(k[i]);
  for (int64_t i = 0; i < v.numel(); ++i) vb[i] = bf16(v[i]);
  const SdpaForward<float> f = sdpa_forward_nd(qb, kb, vb);
  EXPECT_EQ(f.out.shape(), (Shape{5, 4}));
  EXPECT_EQ(f.lse.shape(), (Shape{5}));
  TensorF qr(q.shape()), kr(k.shape()), vr(v.shape());  // the bf16-rounded inputs in float32
  for (int64_t i = 0; i < q.numel(); ++i) qr[i] = static_cast<float>(qb[i]);
  for (int64_t i = 0; i < k.numel(); ++i) kr[i] = static_cast<float>(kb[i]);
  for (int64_t i = 0; i < v.numel(); ++i) vr[i] = static_cast<float>(vb[i]);
  const SdpaForward<float> ff = sdpa_forward_nd(qr, kr, vr);
  EXPECT_TRUE(tensors_close("bf16 vs float", f.out, ff.out, 1.5e-2));
}

TEST(SdpaShapes, ErrorsNameTheArgumentAndBothShapes) {
  const TensorF q({2, 4, 3}), k({2, 5, 3}), v({2, 5, 6});
  auto fwd = [&](const TensorF& a, const TensorF& b, const TensorF& c, const AttentionMask& m = {}) {
    return test::error_message_of([&] { sdpa_forward_nd(a, b, c, m); });
  };
  EXPECT_NE(fwd(TensorF({3}), k, v).find("argument 'q' has shape (3,); expected (..., L, E) with at least 2 dims"),
            std::string::npos);
  EXPECT_NE(fwd(q, TensorF({3, 5, 3}), v).find("argument 'k' has shape (3, 5, 3); expected (2, Lk, 3)"),
            std::string::npos);
  EXPECT_NE(fwd(q, k, TensorF({2, 4, 6})).find("argument 'v' has shape (2, 4, 6); expected (2, 5, dv)"),
            std::string::npos);
  AttentionMask m;
  m.allowed = TensorB({5, 4});
  EXPECT_NE(fwd(q, k, v, m).find("argument 'allowed' (boolean mask) has shape (5, 4); expected a shape "
                                 "broadcastable to (2, 4, 5)"),
            std::string::npos);
  m = {};
  m.bias = TensorF({1, 1, 4, 5});
  EXPECT_NE(fwd(q, k, v, m).find("argument 'bias' (float mask) has shape (1, 1, 4, 5)"), std::string::npos);
  m = {};
  m.valid_lens = TensorI::from({3}, {1, 2, 3});
  EXPECT_NE(fwd(q, k, v, m).find("argument 'valid_lens' has shape (3,); expected (2,) (one length per batch entry) "
                                 "or (2, 4) (one per query)"),
            std::string::npos);
  m = {};
  m.allowed = TensorB({5, 4});
  const SdpaLayout l = sdpa_layout("f", q.shape(), k.shape(), v.shape());
  EXPECT_NE(test::error_message_of([&] { fold_mask("f", m, l, "attn_mask"); })
                .find("f: argument 'attn_mask' has shape (5, 4)"),
            std::string::npos);
  const SdpaForward<float> f = sdpa_forward_nd(q, k, v);
  EXPECT_NE(test::error_message_of([&] { sdpa_backward_nd(TensorF({2, 4, 5}), q, k, v, f); })
                .find("argument 'dout' has shape (2, 4, 5); expected (2, 4, 6) (the shape of the output)"),
            std::string::npos);
}
