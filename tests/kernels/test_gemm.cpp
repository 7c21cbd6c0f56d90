#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qkv/core/rng.h"
#include "qkv/kernels/gemm.h"

namespace {

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
};

class GemmMatchesReference : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmMatchesReference, WithinFloatRounding) {
  auto c = GetParam();
  qkv::Rng rng(7);
  int64_t lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 1, ldc = c.N + 2;
  std::vector<float> A((c.ta ? c.K : c.M) * lda), B((c.tb ? c.N : c.K) * ldb), C(c.M * ldc), R;
  for (auto& x : A) x = static_cast<float>(rng.uniform(-1, 1));
  for (auto& x : B) x = static_cast<float>(rng.uniform(-1, 1));
  for (auto& x : C) x = static_cast<float>(rng.uniform(-1, 1));
  R = C;
  qkv::kernels::gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  qkv::kernels::gemm_reference<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta,
                                      R.data(), ldc);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j)
      ASSERT_NEAR(C[i * ldc + j], R[i * ldc + j], 1e-5 * std::sqrt(static_cast<double>(c.K)) * 4)
          << "at (" << i << ", " << j << ")";
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmMatchesReference,
                         ::testing::Values(GemmCase{false, false, 3, 5, 7, 1, 0}, GemmCase{false, true, 64, 48, 33, 1, 0},
                                           GemmCase{true, false, 40, 70, 65, 0.5f, 1},
                                           GemmCase{true, true, 129, 31, 64, 1, 0.25f},
                                           GemmCase{false, false, 200, 190, 180, -1, 1}),
                         [](const ::testing::TestParamInfo<GemmCase>& info) {
                           const GemmCase& c = info.param;
                           return std::string(c.ta ? "At" : "A") + (c.tb ? "Bt" : "B") + "_" + std::to_string(c.M) +
                                  "x" + std::to_string(c.N) + "x" + std::to_string(c.K) + "_beta" +
                                  std::to_string(static_cast<int>(c.beta * 100));
                         });

}  // namespace
