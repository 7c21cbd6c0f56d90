// Dense matrix products, row-major.
//
//   C[M, N] = alpha * op(A)[M, K] · op(B)[K, N] + beta * C
//
// op(A) is A (M×K, leading dim lda) or, with trans_a, Aᵀ where A is stored K×M; likewise B.
// float: oneDNN's matmul primitive, created once per shape and reused (tiny products use
// a plain loop, where oneDNN's call overhead would dominate). double: gemm_reference, the
// slow, obvious twin every fast path is tested against.
#pragma once

#include <cstdint>

namespace qkv::kernels {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

// Triple loop; accumulates in double.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < K; ++p) {
        double a = trans_a ? A[p * lda + i] : A[i * lda + p];
        double b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
        acc += a * b;
      }
      T& c = C[i * ldc + j];
      c = static_cast<T>(alpha * acc + (beta == T(0) ? 0.0 : static_cast<double>(beta) * c));
    }
  }
}

}  // namespace qkv::kernels
