#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "qkv/core/bf16.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/kernels/gemm_bf16.h"

namespace {

// C = A·B in float32 from bf16 A (M, K) and B (K, N), against the same bf16 values multiplied in
// double; each of two threads runs the cached primitive at once, on its own output.
TEST(GemmBf16, MatchesTheDoubleProductOfTheSameBf16ValuesFromTwoThreadsAtOnce) {
  const int64_t M = 37, N = 29, K = 70;
  qkv::Rng rng(3);
  std::vector<uint16_t> a(static_cast<size_t>(M * K)), b(static_cast<size_t>(K * N));
  for (auto& x : a) x = qkv::bf16(static_cast<float>(rng.normal())).bits;
  for (auto& x : b) x = qkv::bf16(static_cast<float>(rng.normal())).bits;
  auto value = [](uint16_t bits) { return static_cast<double>(qkv::bf16::to_float(bits)); };
  std::vector<std::vector<float>> c(2, std::vector<float>(static_cast<size_t>(M * N), NAN));
  qkv::parallel_workers(2, [&](int w, int) { qkv::kernels::gemm_bf16(M, N, K, a.data(), b.data(), c[static_cast<size_t>(w)].data()); });
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double want = 0, scale = 0;
      for (int64_t p = 0; p < K; ++p) {
        const double t = value(a[static_cast<size_t>(i * K + p)]) * value(b[static_cast<size_t>(p * N + j)]);
        want += t;
        scale += std::abs(t);
      }
      for (const auto& cw : c) ASSERT_NEAR(cw[static_cast<size_t>(i * N + j)], want, 1e-5 * scale + 1e-6) << i << "," << j;
    }
}

}  // namespace
