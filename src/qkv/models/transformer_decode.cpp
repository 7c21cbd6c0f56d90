#include "qkv/models/transformer_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "qkv/nn/transformer_kv_cache.h"

namespace qkv::models {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log softmax of one row of V logits, in double.
void log_softmax(const float* z, int64_t V, std::vector<double>& out) {
  out.resize(static_cast<size_t>(V));
  double m = z[0];
  for (int64_t i = 1; i < V; ++i) m = std::max(m, static_cast<double>(z[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(z[i] - m);
  const double lse = m + std::log(s);
  for (int64_t i = 0; i < V; ++i) out[static_cast<size_t>(i)] = z[i] - lse;
}

int64_t argmax(const float* z, int64_t V) { return std::max_element(z, z + V) - z; }

// Rows repeated k times: row b·k + j of the result is row b of x (x: (B, ...)).
template <typename T>
Tensor<T> repeat_rows(const Tensor<T>& x_in, int64_t k) {
  const Tensor<T> x = x_in.contiguous();
  Shape s = x.shape();
  const int64_t B = s[0], row = x.numel() / std::max<int64_t>(B, 1);
  s[0] = B * k;
  Tensor<T> out(s);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < k; ++j) std::copy(x.data() + b * row, x.data() + (b + 1) * row, out.data() + (b * k + j) * row);
  return out;
}

Sequences greedy(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                 const DecodeOptions& o) {
  const int64_t B = src.dim(0), V = model.config().tgt_vocab;
  const TensorF memory = model.encode(src, src_lens).clone();
  nn::TransformerKvCache cache(model.transformer.decoder, memory, src_lens, o.max_steps);
  Sequences out(static_cast<size_t>(B));
  std::vector<bool> done(static_cast<size_t>(B), false);
  TensorI prev = TensorI::full({B, 1}, o.bos);
  for (int64_t t = 0; t < o.max_steps; ++t) {
    const TensorF logits = model.project(cache.step(model.embed_target(prev, t)));
    bool all = true;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t y = argmax(logits.data() + b * V, V);
      prev[b] = y;
      if (done[static_cast<size_t>(b)]) continue;
      if (y == o.eos) done[static_cast<size_t>(b)] = true;
      else out[static_cast<size_t>(b)].push_back(y);
      all = all && done[static_cast<size_t>(b)];
    }
    if (all) break;
  }
  return out;
}

Sequences beam_search(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                      const DecodeOptions& o) {
  const int64_t B = src.dim(0), k = o.beam, R = B * k, V = model.config().tgt_vocab;
  const TensorF memory = repeat_rows(model.encode(src, src_lens), k);
  const TensorI lens = src_lens.defined() ? repeat_rows(src_lens, k) : TensorI();
  nn::TransformerKvCache cache(model.transformer.decoder, memory, lens, o.max_steps);
  std::vector<double> score(static_cast<size_t>(R), kNegInf);
  for (int64_t b = 0; b < B; ++b) score[static_cast<size_t>(b * k)] = 0;  // one live hypothesis to start
  std::vector<std::vector<int64_t>> hyp(static_cast<size_t>(R));
  std::vector<bool> finished(static_cast<size_t>(R), false);
  TensorI prev = TensorI::full({R, 1}, o.bos);
  std::vector<double> lp;
  struct Candidate {
    double score;
    int64_t parent, token;
  };
  for (int64_t t = 0; t < o.max_steps; ++t) {
    const TensorF logits = model.project(cache.step(model.embed_target(prev, t)));
    std::vector<int64_t> parents(static_cast<size_t>(R));
    std::vector<std::vector<int64_t>> next_hyp(static_cast<size_t>(R));
    std::vector<double> next_score(static_cast<size_t>(R));
    std::vector<bool> next_finished(static_cast<size_t>(R));
    bool all = true;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<Candidate> cand;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = b * k + j;
        if (score[static_cast<size_t>(r)] == kNegInf) continue;
        if (finished[static_cast<size_t>(r)]) {
          cand.push_back({score[static_cast<size_t>(r)], r, o.eos});
          continue;
        }
        log_softmax(logits.data() + r * V, V, lp);
        for (int64_t y = 0; y < V; ++y) cand.push_back({score[static_cast<size_t>(r)] + lp[static_cast<size_t>(y)], r, y});
      }
      const size_t keep = std::min<size_t>(static_cast<size_t>(k), cand.size());
      std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(keep), cand.end(),
                        [](const Candidate& a, const Candidate& c) { return a.score > c.score; });
      for (int64_t j = 0; j < k; ++j) {
        const size_t r = static_cast<size_t>(b * k + j);
        if (static_cast<size_t>(j) >= keep) {
          parents[r] = b * k;
          next_score[r] = kNegInf;
          next_finished[r] = true;
          continue;
        }
        const Candidate& c = cand[static_cast<size_t>(j)];
        const size_t p = static_cast<size_t>(c.parent);
        parents[r] = c.parent;
        next_score[r] = c.score;
        next_hyp[r] = hyp[p];
        next_finished[r] = finished[p] || c.token == o.eos;
        if (!finished[p]) next_hyp[r].push_back(c.token);
        prev[static_cast<int64_t>(r)] = c.token;
        all = all && next_finished[r];
      }
    }
    hyp = std::move(next_hyp);
    score = std::move(next_score);
    finished = std::move(next_finished);
    if (all) break;
    cache.reorder(parents);
  }
  Sequences out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    double best = kNegInf;
    for (int64_t j = 0; j < k; ++j) {
      const size_t r = static_cast<size_t>(b * k + j);
      if (score[r] == kNegInf) continue;
      const double len = static_cast<double>(std::max<size_t>(hyp[r].size(), 1));
      const double normalised = score[r] / std::pow(len, o.length_penalty);
      if (normalised > best || out[static_cast<size_t>(b)].empty()) {
        best = normalised;
        out[static_cast<size_t>(b)] = hyp[r];
      }
    }
    auto& s = out[static_cast<size_t>(b)];
    if (!s.empty() && s.back() == o.eos) s.pop_back();
  }
  return out;
}

void check_inputs(const TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                  const DecodeOptions& o) {
  check_rank("decode", "src", src, 2);
  QKV_CHECK(src.dim(0) > 0 && src.dim(1) > 0, "decode: argument 'src' has shape ", shape_str(src.shape()),
            "; expected a non-empty (B, S)");
  if (src_lens.defined()) check_shape("decode", "src_lens", src_lens, {src.dim(0)});
  o.validate(model.config().tgt_vocab);
  QKV_CHECK(o.max_steps <= model.config().max_len, "decode: max_steps=", o.max_steps, " exceeds the model's max_len=",
            model.config().max_len);
}

}  // namespace

void DecodeOptions::validate(int64_t vocab) const {
  QKV_CHECK(max_steps >= 1, "decode: max_steps must be positive, got ", max_steps);
  QKV_CHECK(beam >= 1 && beam <= 64, "decode: beam (--beam) is ", beam, "; expected 1..64");
  QKV_CHECK(bos >= 0 && bos < vocab && eos >= 0 && eos < vocab, "decode: bos=", bos, " and eos=", eos,
            " must be token ids in [0, ", vocab, ")");
  QKV_CHECK(std::isfinite(length_penalty) && length_penalty >= 0, "decode: length_penalty is ", length_penalty,
            "; expected a finite number >= 0");
}

Sequences decode(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                 const DecodeOptions& o) {
  check_inputs(model, src, src_lens, o);
  return o.beam == 1 ? greedy(model, src, src_lens, o) : beam_search(model, src, src_lens, o);
}

Sequences decode_greedy_uncached(TransformerSeq2Seq<float>& model, const TensorI& src, const TensorI& src_lens,
                                 const DecodeOptions& o) {
  check_inputs(model, src, src_lens, o);
  const int64_t B = src.dim(0), V = model.config().tgt_vocab;
  const TensorF memory = model.encode(src, src_lens).clone();
  nn::MhaCall self_call, cross_call;
  self_call.is_causal = true;
  TensorB pad;
  if (src_lens.defined()) {
    pad = TensorB({B, src.dim(1)});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < src.dim(1); ++j) pad.data()[b * src.dim(1) + j] = j >= src_lens[b];
    cross_call.key_padding_mask = pad;
  }
  Sequences out(static_cast<size_t>(B));
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<int64_t> tokens(static_cast<size_t>(B), o.bos);  // (B, t+1) row-major, grows per step
  for (int64_t t = 0; t < o.max_steps; ++t) {
    const TensorI ids = TensorI::from({B, t + 1}, tokens);
    const TensorF x = model.embed_target(ids, 0);
    const TensorF& h = model.transformer.decoder.forward(x, memory, self_call, cross_call, false, 0);
    const TensorF logits = model.project(h.slice(1, t, t + 1));
    std::vector<int64_t> next;
    next.reserve(static_cast<size_t>(B * (t + 2)));
    bool all = true;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t y = argmax(logits.data() + b * V, V);
      next.insert(next.end(), tokens.begin() + b * (t + 1), tokens.begin() + (b + 1) * (t + 1));
      next.push_back(y);
      if (done[static_cast<size_t>(b)]) continue;
      if (y == o.eos) done[static_cast<size_t>(b)] = true;
      else out[static_cast<size_t>(b)].push_back(y);
      all = all && done[static_cast<size_t>(b)];
    }
    tokens = std::move(next);
    if (all) break;
  }
  return out;
}

}  // namespace qkv::models
