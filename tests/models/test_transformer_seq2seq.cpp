// models::TransformerSeq2Seq: gradients in float64 (tied and untied embeddings, padding), the
// parameter list from the config alone, save/load with its config, errors naming the argument;
// decoding: the KV cache equals full recomputation (step outputs and greedy sequences), beam
// width 1 equals greedy, beam search returns the best-scoring hypothesis it kept.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "temp_dir.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/transformer_decode.h"
#include "qkv/models/transformer_seq2seq.h"
#include "qkv/nn/transformer_kv_cache.h"
#include "qkv/train/checkpoint.h"
#include "qkv/train/transformer_trainer.h"

namespace {

using qkv::Rng;
using qkv::TensorD;
using qkv::TensorF;
using qkv::TensorI;
using qkv::models::DecodeOptions;
using qkv::models::TransformerSeq2Seq;
using qkv::models::TransformerSeq2SeqConfig;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

TransformerSeq2SeqConfig tiny(bool tie, bool norm_first) {
  TransformerSeq2SeqConfig c;
  c.src_vocab = 7;
  c.tgt_vocab = 6;
  c.d_model = 4;
  c.nhead = 2;
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.dim_feedforward = 6;
  c.dropout = 0.0;
  c.norm_first = norm_first;
  c.tie_embeddings = tie;
  c.max_len = 16;
  return c;
}

void check_model_gradients(const TransformerSeq2SeqConfig& c) {
  TransformerSeq2Seq<double> m(c, 3);
  Rng rng(4);
  for (auto& [name, p] : m.named_parameters())
    if (name.find("bias") != std::string::npos)
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] += rng.normal() * 0.2;
  const TensorI src = TensorI::from({2, 4}, {3, 4, 5, 6, 4, 3, 0, 0});
  const TensorI src_lens = TensorI::from({2}, {4, 2});
  const TensorI tgt_in = TensorI::from({2, 3}, {1, 3, 4, 1, 5, 0});
  const TensorI tgt_lens = TensorI::from({2}, {3, 2});
  TensorD out = m.forward(src, src_lens, tgt_in, tgt_lens).clone();
  TensorD G = randn(out.shape(), rng);
  auto loss = [&] { return qkv::test::dot(m.forward(src, src_lens, tgt_in, tgt_lens), G); };
  m.zero_grad();
  m.forward(src, src_lens, tgt_in, tgt_lens);
  m.backward(G);
  for (auto& [name, p] : m.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(grad_close(name, analytic, numeric_grad(p->value, loss))) << name;
  }
}

TEST(TransformerSeq2SeqGradcheck, UntiedPostNorm) { check_model_gradients(tiny(false, false)); }
TEST(TransformerSeq2SeqGradcheck, TiedPreNorm) { check_model_gradients(tiny(true, true)); }

TEST(TransformerSeq2SeqConfig, ShapesFromTheConfigMatchTheModel) {
  for (bool tie : {false, true}) {
    TransformerSeq2SeqConfig c = tiny(tie, true);
    TransformerSeq2Seq<float> m(c);
    std::vector<std::pair<std::string, qkv::Shape>> got;
    for (auto& [name, p] : m.named_parameters()) got.emplace_back(name, p->value.shape());
    EXPECT_EQ(got, c.parameter_shapes());
  }
  TransformerSeq2SeqConfig bad = tiny(false, false);
  bad.nhead = 3;
  EXPECT_THROW(bad.validate(), qkv::Error);
}

TEST(TransformerSeq2SeqFiles, SaveAndLoadKeepWeightsAndConfig) {
  const auto dir = qkv::test::temp_dir("transformer_files");
  TransformerSeq2SeqConfig c = tiny(true, false);
  c.task = "dates";
  TransformerSeq2Seq<float> m(c, 9);
  const std::string path = (dir / "model.safetensors").string();
  qkv::train::save_transformer(path, m);
  auto back = qkv::models::load_transformer(path);
  EXPECT_EQ(back->config().to_metadata(), c.to_metadata());
  auto a = m.state_dict(), b = back->state_dict();
  for (auto& [name, t] : a) EXPECT_TRUE(tensors_close(name, b[name], t, 0.0));
  // A file whose config does not match its tensors is refused, naming the tensor.
  auto meta = c.to_metadata();
  meta["dim_feedforward"] = "7";
  qkv::train::write_model_file(path, m.named_parameters(), meta);
  try {
    qkv::models::load_transformer(path);
    ADD_FAILURE() << "no error";
  } catch (const qkv::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("linear1.weight"), std::string::npos) << e.what();
  }
}

// A float model with non-trivial weights for the decoding tests.
std::unique_ptr<TransformerSeq2Seq<float>> decoding_model(bool norm_first) {
  TransformerSeq2SeqConfig c;
  c.src_vocab = 12;
  c.tgt_vocab = 9;
  c.d_model = 16;
  c.nhead = 4;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dim_feedforward = 24;
  c.dropout = 0.0;
  c.norm_first = norm_first;
  c.max_len = 32;
  auto m = std::make_unique<TransformerSeq2Seq<float>>(c, 11);
  Rng rng(12);
  for (auto& [name, p] : m->named_parameters())
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] += static_cast<float>(rng.normal() * 0.1);
  return m;
}

TEST(TransformerKvCache, EveryStepEqualsTheFullDecoder) {
  for (bool norm_first : {false, true}) {
    auto m = decoding_model(norm_first);
    const TensorI src = TensorI::from({3, 5}, {3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 10, 11, 3, 4, 0});
    const TensorI lens = TensorI::from({3}, {5, 2, 4});
    const TensorF memory = m->encode(src, lens).clone();
    const int64_t T = 30;  // past the cache's first capacity (16) and its doubling (32, held to 30)
    Rng rng(1);
    TensorI tokens({3, T});
    for (int64_t i = 0; i < tokens.numel(); ++i) tokens[i] = static_cast<int64_t>(rng.next_u64() % 9);
    const TensorF x = m->embed_target(tokens, 0);
    qkv::nn::MhaCall self_call, cross_call;
    self_call.is_causal = true;
    cross_call.key_padding_mask = qkv::TensorB::from({3, 5}, {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1});
    const TensorF full = m->transformer.decoder.forward(x, memory, self_call, cross_call, false, 0).clone();
    qkv::nn::TransformerKvCache cache(m->transformer.decoder, memory, lens, T);
    for (int64_t t = 0; t < T; ++t) {
      const TensorF step = cache.step(x.slice(1, t, t + 1)).clone();
      EXPECT_TRUE(tensors_close("step " + std::to_string(t), step, full.slice(1, t, t + 1).contiguous(), 1e-5))
          << "norm_first " << norm_first;
    }
    EXPECT_THROW(cache.step(x.slice(1, 0, 1)), qkv::Error);  // the cache is full
  }
}

TEST(TransformerKvCache, ReorderAfterGrowingKeepsEachParentsHistory) {
  auto m = decoding_model(true);
  const TensorI src = TensorI::from({3, 4}, {3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6});  // one source, three rows
  const TensorF memory = m->encode(src, TensorI()).clone();
  const int64_t T = 20;
  Rng rng(2);
  TensorI tokens({3, T});
  for (int64_t i = 0; i < tokens.numel(); ++i) tokens[i] = static_cast<int64_t>(rng.next_u64() % 9);
  const TensorF x = m->embed_target(tokens, 0);
  const std::vector<int64_t> parents = {2, 0, 2};
  TensorI permuted({3, T});
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t t = 0; t < T; ++t) permuted[r * T + t] = t + 1 < T ? tokens[parents[static_cast<size_t>(r)] * T + t] : tokens[r * T + t];
  const TensorF xp = m->embed_target(permuted, 0);
  qkv::nn::TransformerKvCache reordered(m->transformer.decoder, memory, TensorI(), T), fresh(m->transformer.decoder, memory, TensorI(), T);
  for (int64_t t = 0; t + 1 < T; ++t) {
    reordered.step(x.slice(1, t, t + 1));
    fresh.step(xp.slice(1, t, t + 1));
  }
  reordered.reorder(parents);
  const TensorF a = reordered.step(xp.slice(1, T - 1, T)).clone();
  EXPECT_TRUE(tensors_close("after reorder", a, fresh.step(xp.slice(1, T - 1, T)).clone(), 1e-6));
}

TEST(TransformerDecode, CachedGreedyEqualsRecomputationAndBeamOneEqualsGreedy) {
  auto m = decoding_model(true);
  const TensorI src = TensorI::from({3, 5}, {3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 10, 11, 3, 4, 0});
  const TensorI lens = TensorI::from({3}, {5, 2, 4});
  DecodeOptions o;
  o.max_steps = 12;
  const auto cached = qkv::models::decode(*m, src, lens, o);
  const auto full = qkv::models::decode_greedy_uncached(*m, src, lens, o);
  EXPECT_EQ(cached, full);
  size_t generated = 0;
  for (const auto& s : cached) generated += s.size();
  EXPECT_GT(generated, 0u);
  o.beam = 1;
  EXPECT_EQ(qkv::models::decode(*m, src, lens, o), cached);
}

// Σ log p of a sequence followed by <eos>, by teacher forcing.
double sequence_log_prob(TransformerSeq2Seq<float>& m, const TensorI& src, const TensorI& lens, int64_t row,
                         const std::vector<int64_t>& seq) {
  const int64_t T = static_cast<int64_t>(seq.size()) + 1;
  TensorI s = src.slice(0, row, row + 1).contiguous(), l = TensorI::from({1}, {lens[row]});
  TensorI in({1, T});
  in[0] = 1;
  for (int64_t i = 0; i + 1 < T; ++i) in[i + 1] = seq[static_cast<size_t>(i)];
  const TensorF logits = m.forward(s, l, in, TensorI()).clone();
  const int64_t V = logits.dim(2);
  double total = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* z = logits.data() + t * V;
    double mx = z[0], sum = 0;
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(z[v]));
    for (int64_t v = 0; v < V; ++v) sum += std::exp(z[v] - mx);
    const int64_t y = t + 1 < T ? seq[static_cast<size_t>(t)] : 2;
    total += z[y] - mx - std::log(sum);
  }
  return total;
}

TEST(TransformerDecode, BeamScoresAtLeastGreedyWithoutLengthPenalty) {
  auto m = decoding_model(false);
  const TensorI src = TensorI::from({3, 5}, {3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 10, 11, 3, 4, 0});
  const TensorI lens = TensorI::from({3}, {5, 2, 4});
  DecodeOptions o;
  o.max_steps = 8;
  const auto greedy = qkv::models::decode(*m, src, lens, o);
  o.beam = 4;
  o.length_penalty = 0;
  const auto beam = qkv::models::decode(*m, src, lens, o);
  for (int64_t b = 0; b < 3; ++b) {
    const auto& g = greedy[static_cast<size_t>(b)];
    const auto& s = beam[static_cast<size_t>(b)];
    if (static_cast<int64_t>(g.size()) >= o.max_steps || static_cast<int64_t>(s.size()) >= o.max_steps) continue;
    EXPECT_GE(sequence_log_prob(*m, src, lens, b, s), sequence_log_prob(*m, src, lens, b, g) - 1e-4) << "row " << b;
  }
  o.beam = 0;
  EXPECT_THROW(qkv::models::decode(*m, src, lens, o), qkv::Error);
}

}  // namespace
