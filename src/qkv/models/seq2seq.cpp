#include "qkv/models/seq2seq.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "qkv/nn/additive_attention.h"
#include "qkv/kernels/gemm.h"
#include "qkv/io/input_file.h"
#include "qkv/io/module_weights.h"
#include "qkv/io/safetensors.h"

namespace qkv::models {

template <typename T>
struct Seq2Seq<T>::State {
  nn::Embedding<T> enc_emb, dec_emb;
  nn::GRU<T> encoder;
  nn::GRU<T> decoder;  // its parameters; stepped with nn::gru_cell_forward / gru_cell_backward
  AdditiveAttention<T> attention;
  nn::Linear<T> dense;

  // Saved by forward() for backward().
  int64_t B = 0, Ls = 0, Lt = 0;
  TensorI src_lens;                // (B,) contiguous copy
  AdditiveMemory<T> memory;        // the encoder states as keys and values
  std::vector<AdditiveStep<T>> steps;
  Tensor<T> S;      // (B, Lt+1, H) decoder states s_0 .. s_Lt
  Tensor<T> Sprev;  // (B, Lt, H)   s_0 .. s_{Lt−1} (contiguous, for one dW_hh GEMM)
  Tensor<T> X;      // (B, Lt, E+H) decoder inputs [embedding; context]
  Tensor<T> GI;     // (B, Lt, 3H)  input projections
  Tensor<T> gates;  // (B, Lt, 4H)
  Tensor<T> D;      // (B, Lt, 2H)  dense inputs [s_{t+1}; c_t]
  Tensor<T> gh;     // (B, 3H) scratch
  // Backward buffers.
  Tensor<T> dGI, dGH, ds, dsp, dctx, demb;

  State(const Seq2SeqConfig& c, Rng& rng)
      : enc_emb(c.vocab, c.embed, rng),
        dec_emb(c.vocab, c.embed, rng),
        encoder(c.embed, c.hidden, rng),
        decoder(c.embed + c.hidden, c.hidden, rng),
        attention(c.hidden, c.hidden, c.attention, rng),
        dense(2 * c.hidden, c.vocab, true, rng) {}
};

template <typename T>
Seq2Seq<T>::Seq2Seq(const Seq2SeqConfig& config, Rng& rng) : config_(config) {
  config.validate();
  st_ = std::make_unique<State>(config, rng);
}

template <typename T>
Seq2Seq<T>::~Seq2Seq() = default;

namespace {

void check_sources(const char* where, const TensorI& src, const TensorI& src_lens) {
  check_rank(where, "src", src, 2);
  const int64_t B = src.dim(0), Ls = src.dim(1);
  QKV_CHECK(B >= 1 && Ls >= 1, where, ": argument 'src' has shape ", shape_str(src.shape()),
            "; expected at least one row and one column");
  check_shape(where, "src_lens", src_lens, {B});
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = src_lens.at({b});
    QKV_CHECK(1 <= len && len <= Ls, where, ": argument 'src_lens' has ", len, " at row ", b, "; expected [1, ", Ls,
              "]");
  }
}

}  // namespace

template <typename T>
const Tensor<T>& Seq2Seq<T>::forward(const TensorI& src, const TensorI& src_lens, const TensorI& tgt_in) {
  State& s = *st_;
  check_sources("Seq2Seq.forward", src, src_lens);
  check_rank("Seq2Seq.forward", "tgt_in", tgt_in, 2);
  check_shape("Seq2Seq.forward", "tgt_in", tgt_in, {src.dim(0), -1});
  const int64_t B = src.dim(0), Ls = src.dim(1), Lt = tgt_in.dim(1);
  QKV_CHECK(Lt >= 1, "Seq2Seq.forward: argument 'tgt_in' has no steps");
  const int64_t E = config_.embed, H = config_.hidden, EH = E + H;
  s.B = B;
  s.Ls = Ls;
  s.Lt = Lt;
  s.src_lens = src_lens.clone();

  // Encoder.
  const Tensor<T>& enc = s.encoder.forward(s.enc_emb.forward(src));
  s.memory = s.attention.prepare(enc, enc, s.src_lens);

  // Decoder: inputs projected for the embedding part in one GEMM, the context part per step.
  ensure_shape(s.S, {B, Lt + 1, H});
  ensure_shape(s.Sprev, {B, Lt, H});
  ensure_shape(s.X, {B, Lt, EH});
  ensure_shape(s.GI, {B, Lt, 3 * H});
  ensure_shape(s.gates, {B, Lt, 4 * H});
  ensure_shape(s.D, {B, Lt, 2 * H});
  ensure_shape(s.gh, {B, 3 * H});
  ensure_shape(weights_, {B, Lt, Ls});
  for (int64_t b = 0; b < B; ++b) {
    const T* last = enc.data() + (b * Ls + s.src_lens[b] - 1) * H;
    std::copy(last, last + H, s.S.data() + b * (Lt + 1) * H);
  }
  const Tensor<T>& emb = s.dec_emb.forward(tgt_in);
  for (int64_t r = 0; r < B * Lt; ++r) std::copy(emb.data() + r * E, emb.data() + (r + 1) * E, s.X.data() + r * EH);
  const T* wih = s.decoder.weight_ih_l0.value.data();
  const T* bih = s.decoder.bias_ih_l0.value.data();
  for (int64_t r = 0; r < B * Lt; ++r) std::copy(bih, bih + 3 * H, s.GI.data() + r * 3 * H);
  kernels::gemm(false, true, B * Lt, 3 * H, E, T(1), s.X.data(), EH, wih, EH, T(1), s.GI.data(), 3 * H);

  s.steps.resize(static_cast<size_t>(Lt));
  const int64_t ldS = (Lt + 1) * H;
  for (int64_t t = 0; t < Lt; ++t) {
    auto& step = s.steps[static_cast<size_t>(t)];
    step = s.attention.step(s.memory, s.S.slice(1, t, t + 1));  // query s_t (B, 1, H) → context (B, 1, H)
    const T* ctx = step.out.data();
    for (int64_t b = 0; b < B; ++b) {
      std::copy(ctx + b * H, ctx + (b + 1) * H, s.X.data() + (b * Lt + t) * EH + E);
      std::copy(ctx + b * H, ctx + (b + 1) * H, s.D.data() + (b * Lt + t) * 2 * H + H);
      const T* w = step.weights.data() + b * Ls;
      std::copy(w, w + Ls, weights_.data() + (b * Lt + t) * Ls);
    }
    T* gi_t = s.GI.data() + t * 3 * H;
    kernels::gemm(false, true, B, 3 * H, H, T(1), s.X.data() + t * EH + E, Lt * EH, wih + E, EH, T(1), gi_t,
                  Lt * 3 * H);
    T* s_next = s.S.data() + (t + 1) * H;
    nn::gru_cell_forward(B, H, gi_t, Lt * 3 * H, s.S.data() + t * H, ldS, s.decoder.weight_hh_l0.value.data(),
                         s.decoder.bias_hh_l0.value.data(), s.gh.data(), s.gates.data() + t * 4 * H, Lt * 4 * H, s_next,
                         ldS);
    for (int64_t b = 0; b < B; ++b) {
      std::copy(s.S.data() + b * ldS + t * H, s.S.data() + b * ldS + (t + 1) * H, s.Sprev.data() + (b * Lt + t) * H);
      std::copy(s_next + b * ldS, s_next + b * ldS + H, s.D.data() + (b * Lt + t) * 2 * H);
    }
  }
  logits_ = s.dense.forward(s.D);  // (B, Lt, V)
  return logits_;
}

template <typename T>
void Seq2Seq<T>::backward(const Tensor<T>& dlogits) {
  State& s = *st_;
  QKV_CHECK(s.B > 0 && !s.steps.empty(), "Seq2Seq.backward: called before forward");
  const int64_t B = s.B, Ls = s.Ls, Lt = s.Lt, E = config_.embed, H = config_.hidden, EH = E + H;
  check_shape("Seq2Seq.backward", "dlogits", dlogits, {B, Lt, config_.vocab});
  Tensor<T> dD = s.dense.backward(dlogits).contiguous();  // (B, Lt, 2H)

  ensure_shape(s.dGI, {B, Lt, 3 * H});
  ensure_shape(s.dGH, {B, Lt, 3 * H});
  ensure_shape(s.ds, {B, H});
  ensure_shape(s.dsp, {B, H});
  ensure_shape(s.dctx, {B, 1, H});
  s.ds.fill(T(0));
  const T* wih = s.decoder.weight_ih_l0.value.data();
  const int64_t ldS = (Lt + 1) * H;
  for (int64_t t = Lt; t-- > 0;) {
    for (int64_t b = 0; b < B; ++b) {
      const T* g = dD.data() + (b * Lt + t) * 2 * H;
      T* d = s.ds.data() + b * H;
      for (int64_t j = 0; j < H; ++j) d[j] += g[j];
      std::copy(g + H, g + 2 * H, s.dctx.data() + b * H);
    }
    T* dgi_t = s.dGI.data() + t * 3 * H;
    nn::gru_cell_backward(B, H, s.ds.data(), H, s.S.data() + t * H, ldS, s.gates.data() + t * 4 * H, Lt * 4 * H,
                          s.decoder.weight_hh_l0.value.data(), dgi_t, Lt * 3 * H, s.dGH.data() + t * 3 * H, Lt * 3 * H,
                          s.dsp.data(), H);
    // The context entered the GRU input: dc += dgi W_ih[:, E:].
    kernels::gemm(false, false, B, H, 3 * H, T(1), dgi_t, Lt * 3 * H, wih + E, EH, T(1), s.dctx.data(), H);
    Tensor<T> dquery = s.attention.step_backward(s.memory, s.steps[static_cast<size_t>(t)], s.dctx);
    const T* dq = dquery.data();
    for (int64_t i = 0; i < B * H; ++i) s.ds[i] = s.dsp[i] + dq[i];
  }
  // Encoder states were keys, values and (at each row's last valid position) the first state.
  AdditiveGrads<T> ag = s.attention.memory_backward(s.memory);
  Tensor<T> denc = ag.dk.contiguous().clone();
  Tensor<T> dval = ag.dv.contiguous();
  for (int64_t i = 0; i < denc.numel(); ++i) denc[i] += dval[i];
  for (int64_t b = 0; b < B; ++b) {
    T* d = denc.data() + (b * Ls + s.src_lens[b] - 1) * H;
    for (int64_t j = 0; j < H; ++j) d[j] += s.ds[b * H + j];
  }
  // Decoder parameters over all steps at once.
  auto& dec = s.decoder;
  kernels::gemm(true, false, 3 * H, EH, B * Lt, T(1), s.dGI.data(), 3 * H, s.X.data(), EH, T(1),
                dec.weight_ih_l0.grad.data(), EH);
  kernels::gemm(true, false, 3 * H, H, B * Lt, T(1), s.dGH.data(), 3 * H, s.Sprev.data(), H, T(1),
                dec.weight_hh_l0.grad.data(), H);
  T* dbi = dec.bias_ih_l0.grad.data();
  T* dbh = dec.bias_hh_l0.grad.data();
  for (int64_t r = 0; r < B * Lt; ++r)
    for (int64_t j = 0; j < 3 * H; ++j) {
      dbi[j] += s.dGI[r * 3 * H + j];
      dbh[j] += s.dGH[r * 3 * H + j];
    }
  ensure_shape(s.demb, {B, Lt, E});
  kernels::gemm(false, false, B * Lt, E, 3 * H, T(1), s.dGI.data(), 3 * H, wih, EH, T(0), s.demb.data(), E);
  s.dec_emb.backward(s.demb);
  // Encoder.
  const Tensor<T>& dx = s.encoder.backward(denc);
  s.enc_emb.backward(dx);
}

template <typename T>
GreedyResult<T> Seq2Seq<T>::greedy(const TensorI& src, const TensorI& src_lens, int64_t steps, int64_t bos,
                                   int64_t eos) {
  State& s = *st_;
  check_sources("Seq2Seq.greedy", src, src_lens);
  QKV_CHECK(steps >= 1, "Seq2Seq.greedy: argument 'steps' is ", steps, "; expected at least 1");
  const int64_t V = config_.vocab;
  QKV_CHECK(0 <= bos && bos < V && 0 <= eos && eos < V, "Seq2Seq.greedy: bos=", bos, " and eos=", eos,
            " must be token ids in [0, ", V, ")");
  const int64_t B = src.dim(0), Ls = src.dim(1), E = config_.embed, H = config_.hidden, EH = E + H;
  TensorI lens = src_lens.clone();
  const Tensor<T>& enc = s.encoder.forward(s.enc_emb.forward(src));
  AdditiveMemory<T> mem = s.attention.prepare(enc, enc, lens);

  GreedyResult<T> out{TensorI({B, steps}), Tensor<T>({B, steps, Ls})};
  Tensor<T> h({B, 1, H}), h_next({B, H}), x({B, EH}), gi({B, 3 * H}), gh({B, 3 * H}), gates({B, 4 * H});
  Tensor<T> d({B, 2 * H}), logits({B, V});
  for (int64_t b = 0; b < B; ++b) {
    const T* last = enc.data() + (b * Ls + lens[b] - 1) * H;
    std::copy(last, last + H, h.data() + b * H);
  }
  std::vector<int64_t> prev(static_cast<size_t>(B), bos);
  std::vector<bool> done(static_cast<size_t>(B), false);
  const T* emb = s.dec_emb.weight.value.data();
  const auto& dec = s.decoder;
  for (int64_t t = 0; t < steps; ++t) {
    AdditiveStep<T> st = s.attention.step(mem, h);
    for (int64_t b = 0; b < B; ++b) {
      std::copy(emb + prev[static_cast<size_t>(b)] * E, emb + (prev[static_cast<size_t>(b)] + 1) * E, x.data() + b * EH);
      std::copy(st.out.data() + b * H, st.out.data() + (b + 1) * H, x.data() + b * EH + E);
      std::copy(st.weights.data() + b * Ls, st.weights.data() + (b + 1) * Ls, out.weights.data() + (b * steps + t) * Ls);
    }
    linear_forward(x.data(), dec.weight_ih_l0.value.data(), dec.bias_ih_l0.value.data(), gi.data(), B, EH, 3 * H);
    nn::gru_cell_forward(B, H, gi.data(), 3 * H, h.data(), H, dec.weight_hh_l0.value.data(),
                         dec.bias_hh_l0.value.data(), gh.data(), gates.data(), 4 * H, h_next.data(), H);
    for (int64_t b = 0; b < B; ++b) {
      std::copy(h_next.data() + b * H, h_next.data() + (b + 1) * H, d.data() + b * 2 * H);
      std::copy(st.out.data() + b * H, st.out.data() + (b + 1) * H, d.data() + b * 2 * H + H);
    }
    std::copy(h_next.data(), h_next.data() + B * H, h.data());
    linear_forward(d.data(), s.dense.weight.value.data(), s.dense.bias.value.data(), logits.data(), B, 2 * H, V);
    for (int64_t b = 0; b < B; ++b) {
      const T* row = logits.data() + b * V;
      int64_t best = std::max_element(row, row + V) - row;
      prev[static_cast<size_t>(b)] = best;
      out.tokens.at({b, t}) = done[static_cast<size_t>(b)] ? 0 : best;
      if (best == eos) done[static_cast<size_t>(b)] = true;
    }
  }
  return out;
}

template <typename T>
void Seq2Seq<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  State& s = *st_;
  s.enc_emb.collect_parameters(prefix + "encoder.embedding.", out);
  s.encoder.collect_parameters(prefix + "encoder.rnn.", out);
  s.dec_emb.collect_parameters(prefix + "decoder.embedding.", out);
  s.attention.collect_parameters(prefix + "decoder.attention.", out);
  s.decoder.collect_parameters(prefix + "decoder.rnn.", out);
  s.dense.collect_parameters(prefix + "decoder.dense.", out);
}

template class Seq2Seq<float>;
template class Seq2Seq<double>;

std::unique_ptr<Seq2Seq<float>> load_seq2seq(const std::string& dir, int64_t expected_vocab) {
  const std::string path = (std::filesystem::path(dir) / "model.safetensors").string();
  const std::string where = "load_seq2seq: '" + io::printable_path(path) + "'";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw FileError(str(where, " does not exist; train with `qkv seq2seq --out ", io::printable_path(dir), "` first"));
  io::SafeTensors file = io::read_safetensors(path);
  // Names, shapes and finite values are checked before the model allocates anything.
  const Seq2SeqConfig c = checked_seq2seq_config(file, expected_vocab);
  Rng rng(0);
  auto model = std::make_unique<Seq2Seq<float>>(c, rng);
  io::load_module_weights(*model, file);
  return model;
}

}  // namespace qkv::models
