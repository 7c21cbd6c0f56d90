// Scaled dot-product attention, reference backend: hand-computed values, the definition of the
// forward for every mask kind, float64 gradient checks, the float32 backend against the float64
// reference, fully masked rows, hostile inputs, the backend rule, and the textbook properties
// (permutation invariance, the 1/√d scale, "早 上 好").
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "gradcheck.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/ops/sdpa/sdpa_reference.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The definition of the forward, checked on a result of the reference: weight (b, h, i, j) is
// exp(s_ij − lse_i) with s_ij = scale·q_i·k_j + bias_ij on exactly the keys the mask parts of
// mask.h leave visible (0 elsewhere), each row sums to 1 (or is all 0 with lse = −inf), and
// out = (W∘Z) V with the dropout factors Z.
void expect_forward_follows_definition(const TensorD& q, const TensorD& k, const TensorD& v, const AttentionMask& mask,
                                       const SdpaOptions& o, const SdpaForward<double>& f) {
  const int64_t B = q.dim(0), H = q.dim(1), Lq = q.dim(2), Lk = k.dim(2), d = q.dim(3), dv = v.dim(3);
  const double scale = sdpa_scale(o, d);
  const TensorB allowed = mask.allowed.defined() ? mask.allowed.expand({B, H, Lq, Lk}) : TensorB();
  const TensorF bias = mask.bias.defined() ? mask.bias.expand({B, H, Lq, Lk}) : TensorF();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        const double lse = f.lse.at({b, h, i});
        double rowsum = 0;
        bool any = false;
        for (int64_t j = 0; j < Lk; ++j) {
          bool vis = causal_allows(mask.causal, i, j, Lq, Lk);
          if (mask.valid_lens.defined())
            vis = vis && j < (mask.valid_lens.rank() == 1 ? mask.valid_lens.at({b}) : mask.valid_lens.at({b, i}));
          if (allowed.defined()) vis = vis && allowed.at({b, h, i, j});
          const double bij = bias.defined() ? double(bias.at({b, h, i, j})) : 0.0;
          vis = vis && bij != -kInf;
          const double w = f.weights.at({b, h, i, j});
          if (!vis) {
            EXPECT_EQ(w, 0.0) << "masked weight (" << b << ", " << h << ", " << i << ", " << j << ")";
            continue;
          }
          any = true;
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += q.at({b, h, i, c}) * k.at({b, h, j, c});
          EXPECT_NEAR(w, std::exp(scale * dot + bij - lse), 1e-12) << "weight (" << b << ", " << h << ", " << i << ", " << j << ")";
          rowsum += w;
        }
        if (!any) EXPECT_EQ(lse, -kInf) << "row (" << b << ", " << h << ", " << i << ")";
        EXPECT_NEAR(rowsum, any ? 1.0 : 0.0, 1e-12) << "row (" << b << ", " << h << ", " << i << ")";
        for (int64_t c = 0; c < dv; ++c) {
          double out = 0;
          for (int64_t j = 0; j < Lk; ++j)
            out += f.weights.at({b, h, i, j}) * dropout_factor(o, b, h, i, j, H, Lq, Lk) * v.at({b, h, j, c});
          EXPECT_NEAR(f.out.at({b, h, i, c}), out, 1e-12) << "out (" << b << ", " << h << ", " << i << ", " << c << ")";
        }
      }
}

struct Case {
  int64_t B = 2, H = 2, Lq = 3, Lk = 4, d = 3, dv = 2;
  AttentionMask mask;
  SdpaOptions options;
};

// The reference in float64: the forward against its definition, dq, dk, dv against central
// differences; then the float32 automatic backend (fused) against the float64 reference.
void check_case(const Case& c, uint64_t seed = 1) {
  Rng rng(seed);
  TensorD q = randn({c.B, c.H, c.Lq, c.d}, rng), k = randn({c.B, c.H, c.Lk, c.d}, rng),
          v = randn({c.B, c.H, c.Lk, c.dv}, rng), g = randn({c.B, c.H, c.Lq, c.dv}, rng);
  SdpaOptions opt = c.options;
  opt.need_weights = true;
  auto fwd = sdpa_forward(q, k, v, c.mask, opt, AttentionBackend::reference);
  expect_forward_follows_definition(q, k, v, c.mask, opt, fwd);
  EXPECT_TRUE(test::all_finite(fwd.out));

  auto grads = sdpa_backward(g, q, k, v, fwd, c.mask, opt, AttentionBackend::reference);
  auto loss = [&] { return test::dot(sdpa_forward(q, k, v, c.mask, c.options, AttentionBackend::reference).out, g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(q, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(k, loss)));
  EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(v, loss)));
  EXPECT_TRUE(test::all_finite(grads.dq) && test::all_finite(grads.dk) && test::all_finite(grads.dv));

  auto ff = sdpa_forward(q.cast<float>(), k.cast<float>(), v.cast<float>(), c.mask, opt);
  auto gf = sdpa_backward(g.cast<float>(), q.cast<float>(), k.cast<float>(), v.cast<float>(), ff, c.mask, opt);
  EXPECT_TRUE(tensors_close("float out", ff.out.cast<double>(), fwd.out, 1e-5));
  EXPECT_TRUE(tensors_close("float weights", ff.weights.cast<double>(), fwd.weights, 1e-5));
  EXPECT_TRUE(tensors_close("float dq", gf.dq.cast<double>(), grads.dq, 1e-4));
  EXPECT_TRUE(tensors_close("float dk", gf.dk.cast<double>(), grads.dk, 1e-4));
  EXPECT_TRUE(tensors_close("float dv", gf.dv.cast<double>(), grads.dv, 1e-4));
}

}  // namespace

TEST(AttentionSdpa, HandComputedTinyExample) {
  // One query [1, 0], keys [1, 0] and [0, 1], scale 1: scores (1, 0), weights (e, 1)/(e + 1).
  TensorD q = TensorD::from({1, 1, 1, 2}, {1, 0});
  TensorD k = TensorD::from({1, 1, 2, 2}, {1, 0, 0, 1});
  TensorD v = TensorD::from({1, 1, 2, 2}, {1, 2, 3, 4});
  SdpaOptions o;
  o.scale = 1.0;
  o.need_weights = true;
  auto f = sdpa_forward(q, k, v, {}, o);
  const double e = std::exp(1.0), w0 = e / (e + 1), w1 = 1 / (e + 1);
  EXPECT_NEAR(f.weights[0], w0, 1e-15);
  EXPECT_NEAR(f.weights[1], w1, 1e-15);
  EXPECT_NEAR(f.out[0], w0 * 1 + w1 * 3, 1e-15);
  EXPECT_NEAR(f.out[1], w0 * 2 + w1 * 4, 1e-15);
  EXPECT_NEAR(f.lse[0], std::log(e + 1), 1e-15);
  // Default scale 1/√2 with a length-1 valid_lens: all weight on the first key.
  AttentionMask m;
  m.valid_lens = TensorI::from({1}, {1});
  auto g = sdpa_forward(q, k, v, m);
  EXPECT_DOUBLE_EQ(g.out[0], 1.0);
  EXPECT_DOUBLE_EQ(g.out[1], 2.0);
  EXPECT_NEAR(g.lse[0], 1 / std::sqrt(2.0), 1e-15);
}

TEST(AttentionSdpa, GradNoMask) { check_case({}); }

TEST(AttentionSdpa, GradCustomScaleAndWideValues) {
  Case c;
  c.d = 5;
  c.dv = 7;
  c.options.scale = 0.37;
  check_case(c);
}

TEST(AttentionSdpa, GradSingleTokenSequences) {
  Case c;
  c.Lq = 1;
  c.Lk = 1;
  check_case(c);
}

TEST(AttentionSdpa, GradCausalTopLeft) {
  for (auto [lq, lk] : {std::pair<int64_t, int64_t>{4, 4}, {3, 5}, {5, 3}}) {
    SCOPED_TRACE(testing::Message() << "Lq=" << lq << " Lk=" << lk);
    Case c;
    c.Lq = lq;
    c.Lk = lk;
    c.mask.causal = Causal::top_left;
    check_case(c);
  }
}

TEST(AttentionSdpa, GradCausalBottomRight) {
  for (auto [lq, lk] : {std::pair<int64_t, int64_t>{4, 4}, {3, 5}, {5, 3}}) {
    SCOPED_TRACE(testing::Message() << "Lq=" << lq << " Lk=" << lk);
    Case c;
    c.Lq = lq;
    c.Lk = lk;
    c.mask.causal = Causal::bottom_right;
    check_case(c);
  }
}

TEST(AttentionSdpa, GradValidLensPerBatch) {
  Case c;
  c.mask.valid_lens = TensorI::from({2}, {2, 4});
  check_case(c);
}

TEST(AttentionSdpa, GradValidLensPerQueryWithZeroLength) {
  Case c;
  c.mask.valid_lens = TensorI::from({2, 3}, {1, 0, 4, 3, 2, 0});
  check_case(c);
}

TEST(AttentionSdpa, GradBooleanMaskBroadcast) {
  Case c;
  c.mask.allowed = TensorB::from({3, 4}, {1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0});  // (Lq, Lk), row 2 empty
  check_case(c);
  Case c2;
  c2.mask.allowed = TensorB::from({2, 1, 1, 4}, {1, 1, 0, 1, 0, 1, 1, 0});  // (B, 1, 1, Lk) key padding
  check_case(c2);
}

TEST(AttentionSdpa, GradFloatBiasWithMinusInf) {
  Case c;
  const float ninf = -std::numeric_limits<float>::infinity();
  // (H, Lq, Lk) bias, with -inf entries and one head-row where every key is -inf.
  std::vector<float> b(2 * 3 * 4);
  Rng rng(7);
  for (auto& x : b) x = static_cast<float>(rng.normal());
  b[1] = ninf;
  b[6] = ninf;
  for (int j = 0; j < 4; ++j) b[12 + 4 + j] = ninf;
  c.mask.bias = TensorF::from({2, 3, 4}, b);
  check_case(c);
}

TEST(AttentionSdpa, GradAllMaskKindsTogether) {
  Case c;
  c.Lq = 4;
  c.Lk = 6;
  c.mask.causal = Causal::bottom_right;
  c.mask.valid_lens = TensorI::from({2, 4}, {5, 6, 6, 0, 3, 6, 2, 6});
  c.mask.allowed = TensorB::from({1, 6}, {1, 1, 0, 1, 1, 1});
  c.mask.bias = TensorF::from({2, 1, 1, 6}, {0.5f, -1, 0, 2, 0, 0, 0, 0, 0.25f, -0.5f, 0, 1});
  c.options.scale = 0.8;
  check_case(c);
}

TEST(AttentionSdpa, GradWithDropout) {
  Case c;
  c.Lk = 6;
  c.options.dropout_p = 0.3;
  c.options.dropout_seed = 1234;
  check_case(c);
}

TEST(AttentionSdpa, DropoutIsSeededAndKeepsPreDropoutWeights) {
  Rng rng(3);
  int64_t B = 2, H = 3, L = 32, d = 8;
  TensorD q = randn({B, H, L, d}, rng), k = randn({B, H, L, d}, rng), v = randn({B, H, L, d}, rng);
  SdpaOptions o;
  o.need_weights = true;
  auto plain = sdpa_forward(q, k, v, {}, o);
  o.dropout_p = 0.25;
  o.dropout_seed = 99;
  auto a = sdpa_forward(q, k, v, {}, o);
  auto b = sdpa_forward(q, k, v, {}, o);
  EXPECT_EQ(a.out.to_vector(), b.out.to_vector());
  EXPECT_EQ(a.weights.to_vector(), plain.weights.to_vector());  // weights are pre-dropout
  EXPECT_FALSE(tensors_close("out", a.out, plain.out, 1e-3));
  int64_t dropped = 0, total = B * H * L * L;
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < L; ++j) dropped += dropout_factor(o, bh / H, bh % H, i, j, H, L, L) == 0.0;
  EXPECT_NEAR(double(dropped) / total, 0.25, 0.03);
  o.dropout_seed = 100;
  auto c = sdpa_forward(q, k, v, {}, o);
  EXPECT_NE(a.out.to_vector(), c.out.to_vector());
  o.dropout_p = 1.0;
  auto all = sdpa_forward(q, k, v, {}, o);
  EXPECT_EQ(test::max_abs(all.out), 0.0);
}

TEST(AttentionSdpa, FullyMaskedRowsGiveZerosNeverNaN) {
  Rng rng(5);
  TensorD q = randn({2, 1, 3, 4}, rng), k = randn({2, 1, 5, 4}, rng), v = randn({2, 1, 5, 3}, rng);
  TensorD g = randn({2, 1, 3, 3}, rng);
  AttentionMask m;
  m.valid_lens = TensorI::from({2}, {0, 5});
  std::vector<float> bias(15, 0.0f);
  for (int j = 0; j < 5; ++j) bias[5 + j] = -std::numeric_limits<float>::infinity();  // query 1 of every batch
  m.bias = TensorF::from({1, 1, 3, 5}, bias);
  SdpaOptions o;
  o.need_weights = true;
  auto f = sdpa_forward(q, k, v, m, o);
  ASSERT_TRUE(test::all_finite(f.out) && test::all_finite(f.weights));
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(f.lse.at({0, 0, i}), -kInf);
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(f.out.at({0, 0, i, c}), 0.0);
  }
  EXPECT_EQ(f.lse.at({1, 0, 1}), -kInf);
  for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(f.weights.at({1, 0, 1, j}), 0.0);
  EXPECT_NEAR(f.weights.at({1, 0, 0, 0}) + f.weights.at({1, 0, 0, 1}) + f.weights.at({1, 0, 0, 2}) +
                  f.weights.at({1, 0, 0, 3}) + f.weights.at({1, 0, 0, 4}),
              1.0, 1e-12);
  auto gr = sdpa_backward(g, q, k, v, f, m, o);
  ASSERT_TRUE(test::all_finite(gr.dq) && test::all_finite(gr.dk) && test::all_finite(gr.dv));
  EXPECT_EQ(test::max_abs(gr.dk.select(0, 0)), 0.0);  // batch 0 sees no key at all
  EXPECT_EQ(test::max_abs(gr.dv.select(0, 0)), 0.0);
  EXPECT_EQ(test::max_abs(gr.dq.select(0, 0)), 0.0);
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(gr.dq.at({1, 0, 1, c}), 0.0);
  // The same in float32.
  auto ff = sdpa_forward(q.cast<float>(), k.cast<float>(), v.cast<float>(), m, o);
  auto gf = sdpa_backward(g.cast<float>(), q.cast<float>(), k.cast<float>(), v.cast<float>(), ff, m, o);
  EXPECT_TRUE(test::all_finite(ff.out) && test::all_finite(gf.dq) && test::all_finite(gf.dk));
}

TEST(AttentionSdpa, NaNInputsPropagateInsteadOfBeingMaskedAway) {
  Rng rng(3);
  TensorD q = randn({1, 1, 3, 4}, rng), k = randn({1, 1, 5, 4}, rng), v = randn({1, 1, 5, 2}, rng);
  q.at({0, 0, 1, 2}) = std::nan("");
  auto f = sdpa_forward(q, k, v);
  EXPECT_TRUE(std::isnan(f.out.at({0, 0, 1, 0})));
  EXPECT_TRUE(std::isfinite(f.out.at({0, 0, 0, 0})) && std::isfinite(f.out.at({0, 0, 2, 1})));
}

TEST(AttentionSdpa, EmptyKeysGiveZeroOutput) {
  Rng rng(2);
  TensorD q = randn({1, 2, 3, 4}, rng), k({1, 2, 0, 4}), v({1, 2, 0, 5});
  SdpaOptions o;
  o.need_weights = true;
  auto f = sdpa_forward(q, k, v, {}, o);
  EXPECT_EQ(f.out.shape(), (Shape{1, 2, 3, 5}));
  EXPECT_EQ(test::max_abs(f.out), 0.0);
  EXPECT_EQ(f.weights.shape(), (Shape{1, 2, 3, 0}));
  auto g = sdpa_backward(randn({1, 2, 3, 5}, rng), q, k, v, f, {}, o);
  EXPECT_EQ(test::max_abs(g.dq), 0.0);
  EXPECT_EQ(g.dk.shape(), (Shape{1, 2, 0, 4}));
  // Empty keys in float32 through the automatic backend; no queries; an empty batch.
  auto ff = sdpa_forward(q.cast<float>(), TensorF({1, 2, 0, 4}), TensorF({1, 2, 0, 5}));
  EXPECT_EQ(test::max_abs(ff.out), 0.0f);
  auto nq = sdpa_forward(TensorF({1, 2, 0, 4}), TensorF({1, 2, 3, 4}), TensorF({1, 2, 3, 5}));
  EXPECT_EQ(nq.out.shape(), (Shape{1, 2, 0, 5}));
  auto nb = sdpa_forward(TensorF({0, 2, 3, 4}), TensorF({0, 2, 3, 4}), TensorF({0, 2, 3, 5}));
  EXPECT_EQ(nb.out.shape(), (Shape{0, 2, 3, 5}));
}

TEST(AttentionSdpa, HostileInputsThrowNamedErrors) {
  TensorF q({2, 3, 4, 8}), k({2, 3, 5, 8}), v({2, 3, 5, 6});
  auto fwd = [&](const TensorF& a, const TensorF& b, const TensorF& c, const AttentionMask& m = {},
                 const SdpaOptions& o = {}) { return test::error_message_of([&] { sdpa_forward(a, b, c, m, o); }); };
  EXPECT_NE(fwd(TensorF({3, 4, 8}), k, v).find("argument 'q' has shape (3, 4, 8); expected rank 4"),
            std::string::npos);
  EXPECT_NE(fwd(q, TensorF({2, 3, 5, 7}), v).find("argument 'k' has shape (2, 3, 5, 7); expected last dim 8"),
            std::string::npos);
  EXPECT_NE(fwd(q, k, TensorF({2, 3, 4, 6})).find("argument 'v'"), std::string::npos);
  EXPECT_NE(fwd(q, TensorF({2, 2, 5, 8}), TensorF({2, 2, 5, 6})).find("argument 'k'"), std::string::npos);
  AttentionMask m;
  m.valid_lens = TensorI::from({2}, {3, 6});
  EXPECT_NE(fwd(q, k, v, m).find("'valid_lens' contains the length 6; expected 0 <= length <= 5"),
            std::string::npos);
  m.valid_lens = TensorI::from({2}, {-1, 2});
  EXPECT_NE(fwd(q, k, v, m).find("'valid_lens' contains the length -1"), std::string::npos);
  m.valid_lens = TensorI::from({3}, {1, 2, 3});
  EXPECT_NE(fwd(q, k, v, m).find("'valid_lens' has shape (3,); expected (2,)"), std::string::npos);
  m.valid_lens = TensorI::from({2, 5}, std::vector<int64_t>(10, 1));
  EXPECT_NE(fwd(q, k, v, m).find("expected (2, 4)"), std::string::npos);
  m = {};
  m.allowed = TensorB({4, 4});
  EXPECT_NE(fwd(q, k, v, m).find("argument 'allowed' (boolean mask) has shape (4, 4); expected a shape "
                                  "broadcastable to (2, 3, 4, 5)"),
            std::string::npos);
  m = {};
  m.bias = TensorF({1, 2, 3, 4, 5});
  EXPECT_NE(fwd(q, k, v, m).find("argument 'bias'"), std::string::npos);
  m.bias = TensorF::from({1, 5}, {0, std::nanf(""), 0, 0, 0});
  EXPECT_NE(fwd(q, k, v, m).find("contains NaN or +inf"), std::string::npos);
  SdpaOptions o;
  o.dropout_p = 1.5;
  EXPECT_NE(fwd(q, k, v, {}, o).find("'dropout_p' is 1.5"), std::string::npos);
  o = {};
  o.scale = std::nan("");
  EXPECT_NE(fwd(q, k, v, {}, o).find("'scale'"), std::string::npos);
  EXPECT_NE(fwd(TensorF({2, 3, 4, 0}), TensorF({2, 3, 5, 0}), v).find("head dim d >= 1"), std::string::npos);

  auto f = sdpa_forward(q, k, v);
  EXPECT_NE(test::error_message_of([&] { sdpa_backward(TensorF({2, 3, 4, 5}), q, k, v, f); })
                .find("argument 'dout' has shape (2, 3, 4, 5); expected (2, 3, 4, 6)"),
            std::string::npos);
  SdpaForward<float> no_lse;
  EXPECT_NE(test::error_message_of([&] { sdpa_backward(TensorF({2, 3, 4, 6}), q, k, v, no_lse); }).find("'lse'"),
            std::string::npos);
  TensorD qd({1, 1, 2, 2}), kd({1, 1, 2, 2});
  EXPECT_NE(test::error_message_of([&] { sdpa_forward(qd, kd, kd, {}, {}, AttentionBackend::fused); }).find("float32 only"),
            std::string::npos);
}

TEST(AttentionSdpa, FloatMatchesDoubleAndStridedViews) {
  Rng rng(11);
  TensorD q = randn({2, 5, 3, 4}, rng), k = randn({2, 5, 6, 4}, rng), v = randn({2, 5, 6, 3}, rng);
  AttentionMask m;
  m.causal = Causal::bottom_right;
  auto d = sdpa_forward(q, k, v, m);
  auto f = sdpa_forward(q.cast<float>(), k.cast<float>(), v.cast<float>(), m);
  EXPECT_TRUE(tensors_close("float vs double", f.out.cast<double>(), d.out, 1e-6));
  // (B, L, H, d) storage viewed as (B, H, L, d), as the module does when splitting heads.
  TensorD qs = q.transpose(1, 2).contiguous().transpose(1, 2), ks = k.transpose(1, 2).contiguous().transpose(1, 2),
          vs = v.transpose(1, 2).contiguous().transpose(1, 2);
  ASSERT_FALSE(qs.is_contiguous());
  auto s = sdpa_forward(qs, ks, vs, m);
  EXPECT_TRUE(tensors_close("strided", s.out, d.out, 0.0));
  TensorD g = randn({2, 5, 3, 3}, rng);
  auto gs = sdpa_backward(g, qs, ks, vs, s, m), gd = sdpa_backward(g, q, k, v, d, m);
  EXPECT_TRUE(tensors_close("strided dk", gs.dk, gd.dk, 0.0));
}

TEST(AttentionSdpa, WeightsRecomputedFromLse) {
  Rng rng(12);
  TensorD q = randn({1, 2, 4, 3}, rng), k = randn({1, 2, 5, 3}, rng), v = randn({1, 2, 5, 3}, rng);
  AttentionMask m;
  m.causal = Causal::top_left;
  SdpaOptions o;
  o.need_weights = true;
  auto f = sdpa_forward(q, k, v, m, o);
  EXPECT_TRUE(tensors_close("weights", sdpa_reference_weights(q, k, f.lse, m, o), f.weights, 1e-14));
}

TEST(AttentionSdpa, CausalTopLeftVersusBottomRight) {
  // Lq = 2 queries, Lk = 4 keys. Top-left: query 0 sees key 0, query 1 sees keys 0..1.
  // Bottom-right: query 0 sees keys 0..2, query 1 (the last) sees every key.
  TensorD q({1, 1, 2, 2}), k({1, 1, 4, 2}), v({1, 1, 4, 1});
  SdpaOptions o;
  o.need_weights = true;
  AttentionMask tl, br;
  tl.causal = Causal::top_left;
  br.causal = Causal::bottom_right;
  auto a = sdpa_forward(q, k, v, tl, o), b = sdpa_forward(q, k, v, br, o);
  EXPECT_EQ(a.weights.to_vector(), (std::vector<double>{1, 0, 0, 0, 0.5, 0.5, 0, 0}));
  const double t = 1.0 / 3;
  EXPECT_TRUE(tensors_close("bottom_right", b.weights, TensorD::from({1, 1, 2, 4}, {t, t, t, 0, 0.25, 0.25, 0.25, 0.25}),
                            1e-15));
  // More queries than keys: bottom-right leaves the first Lq − Lk queries with no key (zeros).
  TensorD q2({1, 1, 4, 2}), k2({1, 1, 2, 2}), v2 = TensorD::from({1, 1, 2, 1}, {1, 3});
  auto c = sdpa_forward(q2, k2, v2, br, o);
  EXPECT_EQ(c.out.to_vector(), (std::vector<double>{0, 0, 1, 2}));
  EXPECT_EQ(c.lse.at({0, 0, 0}), -kInf);
}

TEST(AttentionSdpa, SelfAttentionIsPermutationInvariant) {
  Rng rng(21);
  const int64_t L = 7, d = 5;
  TensorD x = randn({1, 1, L, d}, rng);
  std::vector<int64_t> perm{3, 0, 6, 1, 5, 2, 4};
  TensorD xp({1, 1, L, d});
  for (int64_t i = 0; i < L; ++i)
    for (int64_t c = 0; c < d; ++c) xp.at({0, 0, i, c}) = x.at({0, 0, perm[i], c});
  auto y = sdpa_forward(x, x, x), yp = sdpa_forward(xp, xp, xp);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(yp.out.at({0, 0, i, c}), y.out.at({0, 0, perm[i], c}), 1e-14);
}

TEST(AttentionSdpa, ScaleBringsDotProductVarianceFromDToOne) {
  Rng rng(31);
  for (int64_t d : {16, 64, 256}) {
    const int64_t n = 4000;
    TensorD q = randn({1, 1, n, d}, rng), k = randn({1, 1, n, d}, rng);
    double s1 = 0, s2 = 0, t1 = 0, t2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      double dotv = 0;
      for (int64_t c = 0; c < d; ++c) dotv += q.at({0, 0, i, c}) * k.at({0, 0, i, c});
      double scaled = dotv * sdpa_scale({}, d);
      s1 += dotv;
      s2 += dotv * dotv;
      t1 += scaled;
      t2 += scaled * scaled;
    }
    const double var = s2 / n - (s1 / n) * (s1 / n), var_scaled = t2 / n - (t1 / n) * (t1 / n);
    SCOPED_TRACE(testing::Message() << "d=" << d << " var=" << var << " scaled=" << var_scaled);
    EXPECT_NEAR(var / d, 1.0, 0.1);
    EXPECT_NEAR(var_scaled, 1.0, 0.1);
  }
}

TEST(AttentionSdpa, UnscaledSoftmaxSaturatesAsDGrows) {
  // Why the scale matters: without it the largest weight of a row tends to 1 as d grows (the
  // softmax saturates and its gradient vanishes); with 1/√d it stays put.
  Rng rng(32);
  const int64_t L = 16;
  auto mean_max_weight = [&](int64_t d, std::optional<double> scale) {
    TensorD q = randn({1, 4, L, d}, rng), k = randn({1, 4, L, d}, rng), v({1, 4, L, 1});
    SdpaOptions o;
    o.scale = scale;
    o.need_weights = true;
    auto f = sdpa_forward(q, k, v, {}, o);
    double sum = 0;
    for (int64_t r = 0; r < 4 * L; ++r) {
      double m = 0;
      for (int64_t j = 0; j < L; ++j) m = std::max(m, f.weights[r * L + j]);
      sum += m;
    }
    return sum / (4 * L);
  };
  const double raw4 = mean_max_weight(4, 1.0), raw256 = mean_max_weight(256, 1.0);
  const double scaled4 = mean_max_weight(4, std::nullopt), scaled256 = mean_max_weight(256, std::nullopt);
  SCOPED_TRACE(testing::Message() << raw4 << " " << raw256 << " " << scaled4 << " " << scaled256);
  EXPECT_GT(raw256, 0.9);
  EXPECT_LT(raw4, 0.75);
  EXPECT_LT(std::abs(scaled256 - scaled4), 0.15);
  EXPECT_LT(scaled256, 0.6);
}

TEST(AttentionSdpa, ZaoShangHaoWorkedExample) {
  // Three tokens 早 上 好 with 4-dim embeddings; self-attention softmax(X Xᵀ) X (scale 1).
  TensorD x = TensorD::from({1, 1, 3, 4}, {1.0, 0.0, 1.0, 0.0,    // 早
                                           0.0, 2.0, 0.0, 2.0,    // 上
                                           1.0, 1.0, 1.0, 1.0});  // 好
  SdpaOptions o;
  o.scale = 1.0;
  o.need_weights = true;
  auto f = sdpa_forward(x, x, x, {}, o);
  for (int64_t i = 0; i < 3; ++i) {
    double rowsum = 0;
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_GT(f.weights.at({0, 0, i, j}), 0.0);
      rowsum += f.weights.at({0, 0, i, j});
    }
    EXPECT_NEAR(rowsum, 1.0, 1e-15);
    for (int64_t c = 0; c < 4; ++c) {  // each output is the weighted sum of the inputs
      double expect = 0, lo = 1e9, hi = -1e9;
      for (int64_t j = 0; j < 3; ++j) {
        expect += f.weights.at({0, 0, i, j}) * x.at({0, 0, j, c});
        lo = std::min(lo, x.at({0, 0, j, c}));
        hi = std::max(hi, x.at({0, 0, j, c}));
      }
      EXPECT_NEAR(f.out.at({0, 0, i, c}), expect, 1e-15);
      EXPECT_GE(f.out.at({0, 0, i, c}), lo);
      EXPECT_LE(f.out.at({0, 0, i, c}), hi);
    }
  }
  // 早·早 = 2, 早·上 = 0, 早·好 = 2: 早 attends to itself and 好 equally.
  EXPECT_NEAR(f.weights.at({0, 0, 0, 0}), f.weights.at({0, 0, 0, 2}), 1e-15);
  EXPECT_NEAR(f.weights.at({0, 0, 0, 1}), 1.0 / (2 * std::exp(2.0) + 1), 1e-15);
}

TEST(AttentionSdpa, AutomaticBackendMatchesReferenceInFloat) {
  // Whatever backend `automatic` picks for float32 (the fused kernel when it supports the case)
  // must agree with the reference twin: outputs, lse, weights and gradients, every mask kind.
  struct Named {
    const char* name;
    AttentionMask mask;
    SdpaOptions options;
  };
  const int64_t B = 2, H = 2, Lq = 9, Lk = 11, d = 8, dv = 6;
  std::vector<Named> cases(6);
  cases[0].name = "none";
  cases[1].name = "causal bottom_right";
  cases[1].mask.causal = Causal::bottom_right;
  cases[2].name = "causal top_left + valid_lens per query";
  cases[2].mask.causal = Causal::top_left;
  std::vector<int64_t> lens(B * Lq);
  for (size_t i = 0; i < lens.size(); ++i) lens[i] = static_cast<int64_t>((i * 5) % (Lk + 1));
  cases[2].mask.valid_lens = TensorI::from({B, Lq}, lens);
  cases[3].name = "boolean (B, 1, 1, Lk) + bias (Lq, Lk) with -inf";
  {
    Rng r(8);
    std::vector<uint8_t> a(B * Lk);
    for (auto& x : a) x = r.uniform() < 0.7;
    cases[3].mask.allowed = TensorB::from({B, 1, 1, Lk}, a);
    std::vector<float> bias(Lq * Lk);
    for (auto& x : bias) x = r.uniform() < 0.1 ? -std::numeric_limits<float>::infinity() : float(r.normal());
    cases[3].mask.bias = TensorF::from({Lq, Lk}, bias);
  }
  cases[4].name = "dropout";
  cases[4].options.dropout_p = 0.2;
  cases[4].options.dropout_seed = 77;
  cases[5].name = "custom scale, valid_lens per batch with a 0";
  cases[5].options.scale = 0.05;
  cases[5].mask.valid_lens = TensorI::from({B}, {0, 7});
  Rng rng(41);
  TensorF q = randn<float>({B, H, Lq, d}, rng), k = randn<float>({B, H, Lk, d}, rng),
          v = randn<float>({B, H, Lk, dv}, rng), g = randn<float>({B, H, Lq, dv}, rng);
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    c.options.need_weights = true;
    auto a = sdpa_forward(q, k, v, c.mask, c.options);
    auto r = sdpa_forward(q, k, v, c.mask, c.options, AttentionBackend::reference);
    EXPECT_TRUE(tensors_close("out", a.out, r.out, 1e-5));
    EXPECT_TRUE(tensors_close("weights", a.weights, r.weights, 1e-5));
    for (int64_t x = 0; x < r.lse.numel(); ++x) {
      if (std::isinf(r.lse[x])) EXPECT_EQ(a.lse[x], r.lse[x]) << "row " << x;
      else EXPECT_NEAR(a.lse[x], r.lse[x], 1e-4 * std::max(1.0f, std::abs(r.lse[x]))) << "row " << x;
    }
    auto ga = sdpa_backward(g, q, k, v, a, c.mask, c.options);
    auto gr = sdpa_backward(g, q, k, v, r, c.mask, c.options, AttentionBackend::reference);
    EXPECT_TRUE(tensors_close("dq", ga.dq, gr.dq, 1e-5));
    EXPECT_TRUE(tensors_close("dk", ga.dk, gr.dk, 1e-5));
    EXPECT_TRUE(tensors_close("dv", ga.dv, gr.dv, 1e-5));
  }
}

// sdpa_forward_into / sdpa_backward_into: the same results as the value-returning API, written
// into caller-owned tensors whose storage is reused. The results are pre-filled with NaN and the
// mask has a fully masked row, so a kernel that skipped any element would show it.
namespace {

template <typename T>
void check_into_matches_value_api(AttentionBackend backend) {
  Rng rng(41);
  const int64_t B = 2, H = 2, Lq = 5, Lk = 7, d = 4, dv = 3;
  const Tensor<T> q = randn<T>({B, H, Lq, d}, rng), k = randn<T>({B, H, Lk, d}, rng),
                  v = randn<T>({B, H, Lk, dv}, rng), dout = randn<T>({B, H, Lq, dv}, rng);
  AttentionMask mask;
  mask.valid_lens = TensorI::from({B, Lq}, {3, 0, 7, 1, 2, 7, 5, 4, 0, 6});
  SdpaOptions o;
  o.need_weights = true;
  o.dropout_p = 0.25;
  o.dropout_seed = 7;
  const SdpaForward<T> want = sdpa_forward(q, k, v, mask, o, backend);
  const SdpaGrads<T> want_g = sdpa_backward(dout, q, k, v, want, mask, o, backend);

  const T nan = std::numeric_limits<T>::quiet_NaN();
  SdpaForward<T> fwd;
  fwd.out = Tensor<T>::full({B, H, Lq, dv}, nan);
  fwd.lse = Tensor<T>::full({B, H, Lq}, nan);
  fwd.weights = Tensor<T>::full({B, H, Lq, Lk}, nan);
  SdpaGrads<T> g;
  g.dq = Tensor<T>::full({B, H, Lq, d}, nan);
  g.dk = Tensor<T>::full({B, H, Lk, d}, nan);
  g.dv = Tensor<T>::full({B, H, Lk, dv}, nan);
  const T* ptrs[] = {fwd.out.data(), fwd.lse.data(), fwd.weights.data(), g.dq.data(), g.dk.data(), g.dv.data()};
  for (int call = 0; call < 2; ++call) {
    sdpa_forward_into(q, k, v, mask, o, fwd, backend);
    sdpa_backward_into(dout, q, k, v, fwd, mask, o, g, backend);
    EXPECT_TRUE(tensors_close("out", fwd.out, want.out, 0.0));
    EXPECT_TRUE(tensors_close("weights", fwd.weights, want.weights, 0.0));
    EXPECT_TRUE(tensors_close("dq", g.dq, want_g.dq, 0.0));
    EXPECT_TRUE(tensors_close("dk", g.dk, want_g.dk, 0.0));
    EXPECT_TRUE(tensors_close("dv", g.dv, want_g.dv, 0.0));
    for (int64_t i = 0; i < want.lse.numel(); ++i) EXPECT_EQ(fwd.lse[i], want.lse[i]) << "lse " << i;
    const T* now[] = {fwd.out.data(), fwd.lse.data(), fwd.weights.data(), g.dq.data(), g.dk.data(), g.dv.data()};
    for (int t = 0; t < 6; ++t) EXPECT_EQ(now[t], ptrs[t]) << "result " << t << " was reallocated on call " << call;
  }
  // Without need_weights the weights are dropped; other shapes get new storage of the right shape.
  o.need_weights = false;
  sdpa_forward_into(q, k, v, mask, o, fwd, backend);
  EXPECT_FALSE(fwd.weights.defined());
  EXPECT_EQ(fwd.out.data(), ptrs[0]);
  const Tensor<T> q2 = randn<T>({B, H, Lq + 1, d}, rng);
  mask = AttentionMask{};
  sdpa_forward_into(q2, k, v, mask, o, fwd, backend);
  EXPECT_EQ(fwd.out.shape(), (Shape{B, H, Lq + 1, dv}));
  EXPECT_TRUE(tensors_close("out (new shape)", fwd.out, sdpa_forward(q2, k, v, mask, o, backend).out, 0.0));
}

}  // namespace

TEST(AttentionSdpaInto, ReferenceDoubleMatchesValueApiAndReusesStorage) {
  check_into_matches_value_api<double>(AttentionBackend::reference);
}

TEST(AttentionSdpaInto, ReferenceFloatMatchesValueApiAndReusesStorage) {
  check_into_matches_value_api<float>(AttentionBackend::reference);
}

TEST(AttentionSdpaInto, FusedMatchesValueApiAndReusesStorage) {
  check_into_matches_value_api<float>(AttentionBackend::fused);
}

TEST(AttentionSdpaInto, RejectsBadShapesLikeTheValueApi) {
  Rng rng(42);
  const TensorD q = randn({1, 2, 3, 4}, rng), k = randn({1, 2, 5, 4}, rng), v = randn({1, 2, 5, 3}, rng);
  SdpaForward<double> fwd;
  EXPECT_THROW(sdpa_forward_into(q, randn({1, 2, 5, 6}, rng), v, {}, {}, fwd), Error);
  sdpa_forward_into(q, k, v, {}, {}, fwd);
  SdpaGrads<double> g;
  EXPECT_THROW(sdpa_backward_into(randn({1, 2, 3, 4}, rng), q, k, v, fwd, {}, {}, g), Error);
}

TEST(AttentionSdpa, BackendRuleByDtype) {
  EXPECT_EQ(sdpa_backend<float>(AttentionBackend::automatic), AttentionBackend::fused);
  EXPECT_EQ(sdpa_backend<double>(AttentionBackend::automatic), AttentionBackend::reference);
  EXPECT_EQ(sdpa_backend<bf16>(AttentionBackend::automatic), AttentionBackend::fused);
  for (AttentionBackend b : {AttentionBackend::reference, AttentionBackend::fused}) {
    EXPECT_EQ(sdpa_backend<float>(b), b);
    EXPECT_EQ(sdpa_backend<bf16>(b), b);
  }
  EXPECT_EQ(sdpa_backend<double>(AttentionBackend::reference), AttentionBackend::reference);
  EXPECT_NE(test::error_message_of([] { sdpa_backend<double>(AttentionBackend::fused); }).find("float32 only"),
            std::string::npos);
}

// bf16 inputs through the same API as float: float32 results, the _into forms reusing storage,
// and the reference backend equal to the float32 reference on the widened inputs.
namespace {

Tensor<bf16> to_bf16(const TensorF& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
  return out;
}

TensorF widened(const Tensor<bf16>& t) {
  TensorF out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<float>(t[i]);
  return out;
}

}  // namespace

TEST(AttentionSdpaInto, Bf16MatchesValueApiAndReusesStorage) {
  Rng rng(43);
  const int64_t B = 2, H = 2, Lq = 5, Lk = 7, d = 4, dv = 3;
  const Tensor<bf16> q = to_bf16(randn<float>({B, H, Lq, d}, rng)), k = to_bf16(randn<float>({B, H, Lk, d}, rng)),
                     v = to_bf16(randn<float>({B, H, Lk, dv}, rng));
  const TensorF dout = randn<float>({B, H, Lq, dv}, rng);
  AttentionMask mask;
  mask.valid_lens = TensorI::from({B, Lq}, {3, 0, 7, 1, 2, 7, 5, 4, 0, 6});
  SdpaOptions o;
  o.need_weights = true;
  o.dropout_p = 0.25;
  o.dropout_seed = 7;
  for (AttentionBackend backend : {AttentionBackend::automatic, AttentionBackend::reference}) {
    SCOPED_TRACE(backend == AttentionBackend::automatic ? "automatic" : "reference");
    const SdpaForward<float> want = sdpa_forward(q, k, v, mask, o, backend);
    const SdpaGrads<float> want_g = sdpa_backward(dout, q, k, v, want, mask, o, backend);
    SdpaForward<float> fwd;
    SdpaGrads<float> g;
    sdpa_forward_into(q, k, v, mask, o, fwd, backend);
    sdpa_backward_into(dout, q, k, v, fwd, mask, o, g, backend);
    const float* ptrs[] = {fwd.out.data(), fwd.lse.data(), fwd.weights.data(), g.dq.data(), g.dk.data(), g.dv.data()};
    sdpa_forward_into(q, k, v, mask, o, fwd, backend);
    sdpa_backward_into(dout, q, k, v, fwd, mask, o, g, backend);
    EXPECT_TRUE(tensors_close("out", fwd.out, want.out, 0.0));
    EXPECT_TRUE(tensors_close("weights", fwd.weights, want.weights, 0.0));
    EXPECT_TRUE(tensors_close("dq", g.dq, want_g.dq, 0.0));
    EXPECT_TRUE(tensors_close("dk", g.dk, want_g.dk, 0.0));
    EXPECT_TRUE(tensors_close("dv", g.dv, want_g.dv, 0.0));
    const float* now[] = {fwd.out.data(), fwd.lse.data(), fwd.weights.data(), g.dq.data(), g.dk.data(), g.dv.data()};
    for (int t = 0; t < 6; ++t) EXPECT_EQ(now[t], ptrs[t]) << "result " << t << " was reallocated";
  }
  const TensorF qf = widened(q), kf = widened(k), vf = widened(v);
  const SdpaForward<float> r = sdpa_forward(q, k, v, mask, o, AttentionBackend::reference);
  const SdpaForward<float> rf = sdpa_forward(qf, kf, vf, mask, o, AttentionBackend::reference);
  EXPECT_TRUE(tensors_close("bf16 reference = float reference on widened inputs", r.out, rf.out, 0.0));
  const SdpaGrads<float> gr = sdpa_backward(dout, q, k, v, r, mask, o, AttentionBackend::reference);
  const SdpaGrads<float> grf = sdpa_backward(dout, qf, kf, vf, rf, mask, o, AttentionBackend::reference);
  EXPECT_TRUE(tensors_close("bf16 reference dq", gr.dq, grf.dq, 0.0));
  EXPECT_TRUE(tensors_close("bf16 reference dk", gr.dk, grf.dk, 0.0));
}

TEST(AttentionSdpa, BackwardChecksTheSavedOutputTheFusedBackendReads) {
  Rng rng(44);
  const TensorF q = randn<float>({1, 2, 3, 4}, rng), k = randn<float>({1, 2, 5, 4}, rng),
                v = randn<float>({1, 2, 5, 3}, rng), dout = randn<float>({1, 2, 3, 3}, rng);
  SdpaForward<float> fwd = sdpa_forward(q, k, v);
  fwd.out = TensorF({1, 2, 3, 2});
  EXPECT_NE(test::error_message_of([&] { sdpa_backward(dout, q, k, v, fwd); })
                .find("argument 'fwd.out' has shape (1, 2, 3, 2); expected (1, 2, 3, 3)"),
            std::string::npos);
  EXPECT_NO_THROW(sdpa_backward(dout, q, k, v, fwd, {}, {}, AttentionBackend::reference));
}
