// The one test harness for ops: an op supplies a case list and two ways to run a case; the
// harness checks
//   (a) the reference's backward against float64 central finite differences, and
//   (b) the fast float backend on every Highway target compiled in and supported by this CPU
//       (forced one at a time through hwy::SetSupportedTargetsForTest), at 1 and 2 threads,
//       against the reference, each output and gradient within rtol · max |reference|.
//
// How an op plugs in (tests/ops/<op>/test_<op>.cpp; adding an op = add a folder + a case list):
//   OpHarness<MyCase> h;
//   h.cases = {...};                                   // each Case has name(), inputs, tolerances
//   h.inputs = [](const MyCase& c) -> Named { ... };   // float64 inputs, by name ("x", "gamma", …)
//   h.upstream = [](const MyCase& c) -> Named { ... }; // upstream gradients, by output name ("y")
//   h.reference = [](const MyCase& c, const Named& in, const Named& dy) -> Named { ... };
//   h.fast = [](const MyCase& c, const Named& in, const Named& dy) -> Named { ... };
//   h.run();
// reference and fast return the forward's outputs (by name) and the gradients of the inputs
// ("d" + input name: dx, dgamma, …), all as float64 tensors. fast runs the float backend on the
// inputs cast to float; the harness rounds every input to float first, so both see the same
// numbers. The finite-difference loss is Σ_outputs dot(output, upstream[output]); an input is
// checked when the reference returns "d" + its name. Outputs without an upstream gradient (saved
// state such as mean and rstd) are compared between backends only.
// Case needs: std::string name() const; double fd_tol (tolerance of (a), as grad_close; 0 skips
// (a) for cases too large for finite differences);
// std::map<std::string, double> rtol (tolerance of (b) per output/gradient name; every name the
// reference returns must have one).
#pragma once

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "qkv/core/parallel.h"

namespace qkv::test {

using Named = std::map<std::string, TensorD>;

// Runs body(label) once for each Highway target compiled in and supported by this CPU and each
// thread count in {1, 2}; restores the targets and the thread count afterwards.
inline void for_each_target_and_thread_count(const std::function<void(const std::string& label)>& body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  const int saved = num_threads();
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      body(std::string("target ") + hwy::TargetName(target) + ", " + std::to_string(threads) + " thread(s)");
    }
  }
  set_num_threads(saved);
  hwy::SetSupportedTargetsForTest(0);
}

// The tensor rounded to float32 and back.
inline TensorD round_to_float(const TensorD& t) { return t.cast<float>().cast<double>(); }

template <typename Case>
struct OpHarness {
  using Run = std::function<Named(const Case&, const Named& inputs, const Named& upstream)>;

  std::vector<Case> cases;
  std::function<Named(const Case&)> inputs;
  std::function<Named(const Case&)> upstream;
  Run reference;
  Run fast;

  void run() const {
    ASSERT_FALSE(cases.empty());
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name());
      if (c.fd_tol > 0) check_gradients(c);
      check_fast(c);
    }
  }

  // (a) The reference's gradients against central finite differences, in float64.
  void check_gradients(const Case& c) const {
    Named in = inputs(c);
    const Named dy = upstream(c);
    const Named analytic = reference(c, in, dy);
    auto loss = [&] {
      const Named out = reference(c, in, dy);
      double l = 0;
      for (const auto& [name, g] : dy) l += dot(out.at(name), g);
      return l;
    };
    for (auto& [name, x] : in) {
      auto it = analytic.find("d" + name);
      if (it == analytic.end()) continue;
      EXPECT_TRUE(grad_close("d" + name, it->second, numeric_grad(x, loss), c.fd_tol));
    }
  }

  // (b) The fast float backend on every target and thread count against the reference.
  void check_fast(const Case& c) const {
    Named in, dy;
    for (const auto& [name, t] : inputs(c)) in[name] = round_to_float(t);
    for (const auto& [name, t] : upstream(c)) dy[name] = round_to_float(t);
    const Named want = reference(c, in, dy);
    for_each_target_and_thread_count([&](const std::string& label) {
      SCOPED_TRACE(label);
      const Named got = fast(c, in, dy);
      for (const auto& [name, ref] : want) {
        auto tol = c.rtol.find(name);
        ASSERT_NE(tol, c.rtol.end()) << "no tolerance for '" << name << "'";
        auto it = got.find(name);
        ASSERT_NE(it, got.end()) << "the fast backend returned no '" << name << "'";
        EXPECT_TRUE(tensors_close(name, it->second, ref, tol->second, kRelativeOnly));
      }
    });
  }
};

}  // namespace qkv::test
