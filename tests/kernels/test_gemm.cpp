#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qkv/core/parallel.h"
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

// A (M, K) · B (K, N) with random entries, and its reference product.
struct Product {
  int64_t M, N, K;
  std::vector<float> A, B, R;
  Product(int64_t m, int64_t n, int64_t k, uint64_t seed) : M(m), N(n), K(k) {
    qkv::Rng rng(seed);
    A.resize(static_cast<size_t>(M * K));
    B.resize(static_cast<size_t>(K * N));
    R.resize(static_cast<size_t>(M * N));
    for (auto& x : A) x = static_cast<float>(rng.uniform(-1, 1));
    for (auto& x : B) x = static_cast<float>(rng.uniform(-1, 1));
    qkv::kernels::gemm_reference<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, R.data(), N);
  }
  std::vector<float> gemm() const {
    std::vector<float> C(R.size(), NAN);
    qkv::kernels::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    return C;
  }
  void expect_equal(const std::vector<float>& C, const char* where) const {
    for (size_t i = 0; i < C.size(); ++i)
      ASSERT_NEAR(C[i], R[i], 1e-4 * std::sqrt(static_cast<double>(K))) << where << ", flat index " << i;
  }
  void expect_outside() const { expect_equal(gemm(), "outside a parallel region"); }
  void expect_inside() const {
    std::vector<std::vector<float>> C(2);
    qkv::parallel_workers(2, [&](int w, int) { C[static_cast<size_t>(w)] = gemm(); });
    for (const auto& c : C) expect_equal(c, "inside a parallel region");
  }
};

// The data-parallel trainers run each replica's products inside a parallel region (one thread
// each) and evaluation runs the same shapes outside it (all threads): a cached primitive must
// give the product in both places, whichever place created it. Shapes as the ViT's linear layers
// run them (tokens × width by width × hidden), both orders of first use.
TEST(Gemm, SameShapeInsideAndOutsideAParallelRegionGivesTheProductInBoth) {
  const Product outside_first(1088, 128, 64, 11), inside_first(1024, 192, 96, 12);
  outside_first.expect_outside();
  outside_first.expect_inside();
  inside_first.expect_inside();
  inside_first.expect_outside();
}

}  // namespace
