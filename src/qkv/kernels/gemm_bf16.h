// bfloat16 matrix product through oneDNN's matmul primitive (created once per shape, reused):
//   C[M, N] (float32) = A[M, K] · B[K, N], A and B row-major bfloat16 bit patterns.
// Used to measure the machine's bf16 peak next to the fused attention kernels' bf16 path.
#pragma once

#include <cstdint>

namespace qkv::kernels {

void gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C);

}  // namespace qkv::kernels
