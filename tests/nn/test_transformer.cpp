// nn::Transformer (and its layers and stacks): gradients in float64 against central differences
// with every mask kind, post- and pre-norm, relu and gelu, both layouts; PyTorch's state_dict
// names; float (fused kernels) against double (reference); errors naming the argument.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "qkv/nn/transformer.h"

namespace {

using qkv::Rng;
using qkv::TensorB;
using qkv::TensorD;
using qkv::TensorF;
using qkv::nn::Activation;
using qkv::nn::Transformer;
using qkv::nn::TransformerCall;
using qkv::nn::TransformerOptions;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

TransformerOptions tiny(bool norm_first, Activation act, bool batch_first = true) {
  TransformerOptions o;
  o.d_model = 4;
  o.nhead = 2;
  o.num_encoder_layers = 2;
  o.num_decoder_layers = 2;
  o.dim_feedforward = 6;
  o.dropout = 0.0;
  o.activation = act;
  o.batch_first = batch_first;
  o.norm_first = norm_first;
  return o;
}

// Non-trivial norms and biases so that every gradient is exercised.
template <typename T>
void randomise(Transformer<T>& m, Rng& rng) {
  for (auto& [name, p] : m.named_parameters())
    if (name.find("bias") != std::string::npos || name.find("norm") != std::string::npos)
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] += static_cast<T>(rng.normal() * 0.3);
}

// Padding masks (B = 2): the second sequence ends early in both src (S = 4) and tgt (T = 3).
TransformerCall padded_call(bool causal) {
  TransformerCall c;
  c.src.key_padding_mask = TensorB::from({2, 4}, {0, 0, 0, 0, 0, 0, 1, 1});
  c.tgt.key_padding_mask = TensorB::from({2, 3}, {0, 0, 0, 0, 0, 1});
  c.tgt.is_causal = causal;
  c.memory.key_padding_mask = c.src.key_padding_mask;
  return c;
}

void check_gradients(Transformer<double>& m, TensorD& src, TensorD& tgt, const TransformerCall& call) {
  Rng rng(7);
  TensorD out = m.forward(src, tgt, call).clone();
  ASSERT_TRUE(qkv::test::all_finite(out));
  TensorD G = randn(out.shape(), rng);
  auto loss = [&] { return qkv::test::dot(m.forward(src, tgt, call), G); };
  m.zero_grad();
  m.forward(src, tgt, call);
  auto g = m.backward(G);
  TensorD dsrc = g.dsrc.clone(), dtgt = g.dtgt.clone();
  EXPECT_TRUE(grad_close("dsrc", dsrc, numeric_grad(src, loss)));
  EXPECT_TRUE(grad_close("dtgt", dtgt, numeric_grad(tgt, loss)));
  for (auto& [name, p] : m.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(grad_close(name, analytic, numeric_grad(p->value, loss)));
  }
}

TEST(TransformerGradcheck, PostNormReluPaddingAndCausal) {
  Rng rng(1);
  Transformer<double> m(tiny(false, Activation::relu), rng);
  randomise(m, rng);
  TensorD src = randn({2, 4, 4}, rng), tgt = randn({2, 3, 4}, rng);
  check_gradients(m, src, tgt, padded_call(true));
}

TEST(TransformerGradcheck, PreNormGeluPaddingAndCausal) {
  Rng rng(2);
  Transformer<double> m(tiny(true, Activation::gelu), rng);
  randomise(m, rng);
  TensorD src = randn({2, 4, 4}, rng), tgt = randn({2, 3, 4}, rng);
  check_gradients(m, src, tgt, padded_call(true));
}

TEST(TransformerGradcheck, ExplicitMasksBoolAndFloatSequenceFirst) {
  Rng rng(3);
  Transformer<double> m(tiny(false, Activation::gelu, /*batch_first=*/false), rng);
  randomise(m, rng);
  TensorD src = randn({4, 2, 4}, rng), tgt = randn({3, 2, 4}, rng);
  TransformerCall c;
  c.src.attn_bias = randn<float>({4, 4}, rng);
  const float inf = std::numeric_limits<float>::infinity();
  c.tgt.attn_bias = TensorF::from({3, 3}, {0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  c.memory.attn_mask = TensorB::from({3, 4}, {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1});
  c.memory.key_padding_mask = TensorB::from({2, 4}, {0, 0, 0, 0, 0, 0, 0, 1});
  check_gradients(m, src, tgt, c);
}

TEST(TransformerStateDict, PyTorchNamesAndShapes) {
  Rng rng(4);
  TransformerOptions o = tiny(false, Activation::relu);
  o.num_encoder_layers = 1;
  o.num_decoder_layers = 1;
  Transformer<float> m(o, rng);
  std::vector<std::pair<std::string, qkv::Shape>> got;
  for (auto& [name, p] : m.named_parameters()) got.emplace_back(name, p->value.shape());
  const std::vector<std::pair<std::string, qkv::Shape>> want = {
      {"encoder.layers.0.self_attn.in_proj_weight", {12, 4}},
      {"encoder.layers.0.self_attn.in_proj_bias", {12}},
      {"encoder.layers.0.self_attn.out_proj.weight", {4, 4}},
      {"encoder.layers.0.self_attn.out_proj.bias", {4}},
      {"encoder.layers.0.linear1.weight", {6, 4}},
      {"encoder.layers.0.linear1.bias", {6}},
      {"encoder.layers.0.linear2.weight", {4, 6}},
      {"encoder.layers.0.linear2.bias", {4}},
      {"encoder.layers.0.norm1.weight", {4}},
      {"encoder.layers.0.norm1.bias", {4}},
      {"encoder.layers.0.norm2.weight", {4}},
      {"encoder.layers.0.norm2.bias", {4}},
      {"encoder.norm.weight", {4}},
      {"encoder.norm.bias", {4}},
      {"decoder.layers.0.self_attn.in_proj_weight", {12, 4}},
      {"decoder.layers.0.self_attn.in_proj_bias", {12}},
      {"decoder.layers.0.self_attn.out_proj.weight", {4, 4}},
      {"decoder.layers.0.self_attn.out_proj.bias", {4}},
      {"decoder.layers.0.multihead_attn.in_proj_weight", {12, 4}},
      {"decoder.layers.0.multihead_attn.in_proj_bias", {12}},
      {"decoder.layers.0.multihead_attn.out_proj.weight", {4, 4}},
      {"decoder.layers.0.multihead_attn.out_proj.bias", {4}},
      {"decoder.layers.0.linear1.weight", {6, 4}},
      {"decoder.layers.0.linear1.bias", {6}},
      {"decoder.layers.0.linear2.weight", {4, 6}},
      {"decoder.layers.0.linear2.bias", {4}},
      {"decoder.layers.0.norm1.weight", {4}},
      {"decoder.layers.0.norm1.bias", {4}},
      {"decoder.layers.0.norm2.weight", {4}},
      {"decoder.layers.0.norm2.bias", {4}},
      {"decoder.layers.0.norm3.weight", {4}},
      {"decoder.layers.0.norm3.bias", {4}},
      {"decoder.norm.weight", {4}},
      {"decoder.norm.bias", {4}},
  };
  EXPECT_EQ(got, want);
}

// The float model (fused SDPA kernels) agrees with the double model (reference) on the same weights.
TEST(TransformerFloat, AgreesWithDouble) {
  for (bool norm_first : {false, true}) {
    Rng rng(5);
    TransformerOptions o = tiny(norm_first, Activation::relu);
    o.d_model = 16;
    o.nhead = 4;
    o.dim_feedforward = 24;
    Transformer<double> md(o, rng);
    randomise(md, rng);
    Transformer<float> mf(o, rng);
    std::map<std::string, TensorF> sd;
    for (auto& [name, t] : md.state_dict()) sd[name] = t.cast<float>();
    mf.load_state_dict(sd);
    TensorD src = randn({2, 4, 16}, rng), tgt = randn({2, 3, 16}, rng);
    TransformerCall c = padded_call(true);
    TensorD yd = md.forward(src, tgt, c).clone();
    TensorF yf = mf.forward(src.cast<float>(), tgt.cast<float>(), c).clone();
    EXPECT_TRUE(tensors_close("out", yf.cast<double>(), yd, 1e-5)) << "norm_first " << norm_first;
    TensorD G = randn(yd.shape(), rng);
    auto gd = md.backward(G);
    auto gf = mf.backward(G.cast<float>());
    EXPECT_TRUE(tensors_close("dsrc", gf.dsrc.cast<double>(), gd.dsrc, 1e-4));
    EXPECT_TRUE(tensors_close("dtgt", gf.dtgt.cast<double>(), gd.dtgt, 1e-4));
  }
}

TEST(TransformerErrors, BadArgumentsNameTheArgument) {
  Rng rng(6);
  Transformer<float> m(tiny(false, Activation::relu), rng);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const qkv::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { m.forward(TensorF({2, 4, 5}), TensorF({2, 3, 4})); }).find("'src'"), std::string::npos);
  EXPECT_NE(message([&] { m.forward(TensorF({2, 4, 4}), TensorF({3, 3, 4})); }).find("batch sizes"),
            std::string::npos);
  TransformerOptions bad = tiny(false, Activation::relu);
  bad.nhead = 3;
  EXPECT_NE(message([&] { Transformer<float>(bad, rng); }).find("nhead"), std::string::npos);
  EXPECT_NE(message([&] { qkv::nn::parse_activation("tanh"); }).find("'activation'"), std::string::npos);
  TransformerCall c;
  c.src.key_padding_mask = TensorB({2, 3});
  EXPECT_NE(message([&] { m.forward(TensorF({2, 4, 4}), TensorF({2, 3, 4}), c); }).find("key_padding_mask"),
            std::string::npos);
}

}  // namespace
