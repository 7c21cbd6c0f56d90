// Scaled dot-product attention through the op harness (tests/support/op_harness.h), like every
// other op: the one reference's gradients (dq, dk, dv) against float64 finite differences, and the
// fused float32 backend on every Highway target compiled in, at 1 and 2 threads, against the
// reference (out, the saved lse and every gradient), one case per mask kind and option.
// The sweep over odd sizes, fully masked rows and bf16 is in test_flash_sweep.cpp and
// test_flash_bf16.cpp.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/ops/sdpa/sdpa.h"

using namespace qkv;
using test::Named;

namespace {

struct SdpaCase {
  std::string label;
  int64_t B, H, Lq, Lk, d, dv;
  AttentionMask mask;
  double dropout = 0.0;
  double fd_tol = 1e-6;
  std::map<std::string, double> rtol = {{"out", 2e-5}, {"lse", 2e-5}, {"dq", 1e-4}, {"dk", 1e-4}, {"dv", 1e-4}};
  std::string name() const { return label; }
};

template <typename T>
Named run(const SdpaCase& c, const Named& in, const Named& up, AttentionBackend backend) {
  SdpaOptions options;
  options.dropout_p = c.dropout;
  options.dropout_seed = 7;
  const Tensor<T> q = in.at("q").cast<T>(), k = in.at("k").cast<T>(), v = in.at("v").cast<T>();
  const SdpaForward<T> f = sdpa_forward(q, k, v, c.mask, options, backend);
  const SdpaGrads<T> g = sdpa_backward(up.at("out").cast<T>(), q, k, v, f, c.mask, options, backend);
  return {{"out", f.out.template cast<double>()}, {"lse", f.lse.template cast<double>()},
          {"dq", g.dq.template cast<double>()},   {"dk", g.dk.template cast<double>()},
          {"dv", g.dv.template cast<double>()}};
}

}  // namespace

TEST(OpSdpa, HarnessReferenceGradientsAndFusedKernels) {
  AttentionMask top_left, bottom_right, lens, allowed_bias;
  top_left.causal = Causal::top_left;
  bottom_right.causal = Causal::bottom_right;
  lens.valid_lens = TensorI::from({2}, {3, 7});
  allowed_bias.allowed = TensorB::from({5, 7}, {1, 1, 0, 1, 1, 1, 1,  1, 0, 1, 1, 1, 1, 1,  1, 1, 1, 1, 0, 1, 1,
                                               0, 1, 1, 1, 1, 1, 1,  1, 1, 1, 1, 1, 1, 0});
  allowed_bias.bias = TensorF::from({1, 7}, {0.5f, -1, 0, 2, -0.25f, 1, 0});
  test::OpHarness<SdpaCase> h;
  h.cases = {{"plain, Lq != Lk, d != dv", 2, 2, 5, 7, 4, 3, {}},
             {"causal top-left", 2, 2, 6, 6, 4, 4, top_left},
             {"causal bottom-right, Lq < Lk", 1, 2, 4, 7, 3, 5, bottom_right},
             {"valid lengths", 2, 1, 5, 7, 4, 3, lens},
             {"allowed + bias", 2, 2, 5, 7, 4, 3, allowed_bias},
             {"dropout", 1, 2, 5, 7, 4, 3, {}, 0.3},
             {"large, causal", 1, 2, 130, 150, 64, 32, bottom_right, 0.0, 0.0}};
  h.inputs = [](const SdpaCase& c) {
    Rng rng(21);
    return Named{{"q", test::randn({c.B, c.H, c.Lq, c.d}, rng)},
                 {"k", test::randn({c.B, c.H, c.Lk, c.d}, rng)},
                 {"v", test::randn({c.B, c.H, c.Lk, c.dv}, rng)}};
  };
  h.upstream = [](const SdpaCase& c) {
    Rng rng(22);
    return Named{{"out", test::randn({c.B, c.H, c.Lq, c.dv}, rng)}};
  };
  h.reference = [](const SdpaCase& c, const Named& in, const Named& up) {
    return run<double>(c, in, up, AttentionBackend::reference);
  };
  h.fast = [](const SdpaCase& c, const Named& in, const Named& up) {
    return run<float>(c, in, up, AttentionBackend::fused);
  };
  h.run();
}
