// Variable-length packed attention (sdpa_varlen.h): the reference's gradients against float64
// finite differences and the fused float32 kernel against the reference on every Highway target
// at 1 and 2 threads (op harness), over packs with empty sequences, sequences without keys,
// Lq_s != Lk_s, d != dv, both causal alignments and the variants; then each sequence against the
// plain call on a copy with an explicit bottom-right mask, and the errors of bad lengths.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/ops/sdpa/sdpa_varlen.h"

using namespace qkv;
using test::Named;

namespace {

struct VarlenCase {
  std::string label;
  std::vector<int64_t> lq, lk;  // per-sequence lengths
  int64_t H, Hkv, d, dv;
  Causal causal = Causal::none;
  int64_t left = -1;
  double softcap = 0.0;
  double fd_tol = 1e-6;
  std::map<std::string, double> rtol = {{"out", 2e-5}, {"lse", 2e-5}, {"dq", 1e-4}, {"dk", 1e-4}, {"dv", 1e-4}};
  std::string name() const { return label; }
  static TensorI cumulative(const std::vector<int64_t>& lens) {
    std::vector<int64_t> c{0};
    for (int64_t x : lens) c.push_back(c.back() + x);
    return TensorI::from({static_cast<int64_t>(c.size())}, c);
  }
  SdpaVarlen varlen() const { return {cumulative(lq), cumulative(lk), causal}; }
  int64_t total(const std::vector<int64_t>& lens) const {
    int64_t t = 0;
    for (int64_t x : lens) t += x;
    return t;
  }
  SdpaOptions options() const {
    SdpaOptions o;
    o.enable_gqa = Hkv != H;
    o.window_left = left;
    o.softcap = softcap;
    return o;
  }
};

template <typename T>
Named run(const VarlenCase& c, const Named& in, const Named& up, AttentionBackend backend) {
  const Tensor<T> q = in.at("q").cast<T>(), k = in.at("k").cast<T>(), v = in.at("v").cast<T>();
  const SdpaForward<T> f = sdpa_varlen_forward(q, k, v, c.varlen(), c.options(), backend);
  const SdpaGrads<T> g = sdpa_varlen_backward(up.at("out").cast<T>(), q, k, v, f, c.varlen(), c.options(), backend);
  return {{"out", f.out.template cast<double>()}, {"lse", f.lse.template cast<double>()},
          {"dq", g.dq.template cast<double>()},   {"dk", g.dk.template cast<double>()},
          {"dv", g.dv.template cast<double>()}};
}

Named inputs_of(const VarlenCase& c) {
  Rng rng(71);
  return Named{{"q", test::randn({c.total(c.lq), c.H, c.d}, rng)},
               {"k", test::randn({c.total(c.lk), c.Hkv, c.d}, rng)},
               {"v", test::randn({c.total(c.lk), c.Hkv, c.dv}, rng)}};
}

}  // namespace

TEST(OpSdpaVarlen, HarnessReferenceGradientsAndFusedKernels) {
  test::OpHarness<VarlenCase> h;
  h.cases = {
      {"three sequences, one empty", {3, 0, 5}, {4, 2, 6}, 2, 2, 4, 3},
      {"causal bottom-right (FlashAttention), Lq_s != Lk_s", {3, 5, 2}, {6, 5, 1}, 2, 2, 4, 3, Causal::bottom_right},
      {"causal top-left with a sequence without keys: zeros", {4, 3}, {0, 5}, 2, 1, 3, 5, Causal::top_left},
      {"GQA + window + softcap", {5, 4}, {7, 4}, 4, 2, 4, 3, Causal::bottom_right, 2, 1.0},
      {"large: two sequences over several key blocks", {130, 70}, {150, 90}, 2, 2, 32, 16, Causal::bottom_right, -1,
       0.0, 0.0},
  };
  h.inputs = inputs_of;
  h.upstream = [](const VarlenCase& c) {
    Rng rng(72);
    return Named{{"out", test::randn({c.total(c.lq), c.H, c.dv}, rng)}};
  };
  h.reference = [](const VarlenCase& c, const Named& in, const Named& up) {
    return run<double>(c, in, up, AttentionBackend::reference);
  };
  h.fast = [](const VarlenCase& c, const Named& in, const Named& up) {
    return run<float>(c, in, up, AttentionBackend::fused);
  };
  h.run();
}

TEST(OpSdpaVarlen, EachSequenceIsThePlainCallWithABottomRightMask) {
  const VarlenCase c{"explicit", {3, 5}, {6, 5}, 2, 2, 4, 3, Causal::bottom_right};
  const Named in = inputs_of(c);
  const SdpaForward<double> f = sdpa_varlen_forward(in.at("q"), in.at("k"), in.at("v"), c.varlen());
  int64_t q0 = 0, k0 = 0;
  for (size_t s = 0; s < c.lq.size(); ++s) {
    const int64_t Lq = c.lq[s], Lk = c.lk[s];
    auto seq = [](const TensorD& t, int64_t a, int64_t n) {  // (n, H, w) rows → (1, H, n, w) contiguous
      return t.slice(0, a, a + n).permute({1, 0, 2}).contiguous().view({1, t.dim(1), n, t.dim(2)});
    };
    AttentionMask mask;
    mask.allowed = TensorB({Lq, Lk});
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) mask.allowed[i * Lk + j] = j <= i + Lk - Lq;
    mask.allowed = mask.allowed.view({1, 1, Lq, Lk});
    const SdpaForward<double> fs = sdpa_forward(seq(in.at("q"), q0, Lq), seq(in.at("k"), k0, Lk),
                                                seq(in.at("v"), k0, Lk), mask);
    EXPECT_TRUE(test::tensors_close("out", seq(f.out, q0, Lq), fs.out, 1e-12)) << "sequence " << s;
    q0 += Lq;
    k0 += Lk;
  }
}

TEST(OpSdpaVarlen, BadLengthsAreClearErrors) {
  const TensorF q({5, 2, 4}), k({6, 2, 4}), v({6, 2, 3});
  SdpaVarlen vl{TensorI::from({3}, {0, 2, 5}), TensorI::from({3}, {0, 4, 7}), Causal::none};
  EXPECT_NE(test::error_message_of([&] { sdpa_varlen_forward(q, k, v, vl); })
                .find("'cu_seqlens_k' ends at 7; expected 6"),
            std::string::npos);
  vl.cu_seqlens_k = TensorI::from({3}, {0, 4, 3});
  EXPECT_NE(test::error_message_of([&] { sdpa_varlen_forward(q, k, v, vl); }).find("'cu_seqlens_k' decreases"),
            std::string::npos);
  vl.cu_seqlens_k = TensorI::from({2}, {0, 6});
  EXPECT_NE(test::error_message_of([&] { sdpa_varlen_forward(q, k, v, vl); })
                .find("'cu_seqlens_k' has shape (2,); expected (3,)"),
            std::string::npos);
  const TensorF q4({1, 5, 2, 4});
  EXPECT_NE(test::error_message_of([&] { sdpa_varlen_forward(q4, k, v, vl); }).find("expected (total_q, H, d)"),
            std::string::npos);
}
