// The bfloat16 backward of the fused attention kernels: q, k, v in bfloat16; out, dout, lse and
// the gradients in float32. Shapes and what the forward saved: flash.h
//   q (B, H, Lq, d)  k (B, Hkv, Lk, d)  v (B, Hkv, Lk, dv)  out, dout (B, H, Lq, dv)  lse (B, H, Lq)
//   dq (B, H, Lq, d)  dk (B, Hkv, Lk, d)  dv (B, Hkv, Lk, dv), contiguous, overwritten.
// Formula (sdpa.h): P = exp(s − lse), D = rowsum(dO∘O), dS = P∘(dP − D) with dP = dO Vᵀ,
// dV = Pᵀ dO, dQ = scale·dS K, dK = scale·dSᵀ Q (dropout as flash.h's FlashMask says).
// Bf16Kernel::native (only where flash_bf16_native()): the five products run vdpbf16ps with
// float32 accumulation; dout is rounded to bf16 once (D is computed from the rounded dout, so
// rowsum(dS) stays 0), and P and dS are rounded to bf16 before their products (relative error
// 2^-9 per element, like the native forward's weights). Bf16Kernel::widened: q, k, v widened to
// float32 and flash_backward (what CPUs without AVX512-BF16 run, and every call with a variant:
// window, ALiBi, softcap or grouped K/V, which the native kernel does not have).
#pragma once

#include "qkv/ops/sdpa/flash.h"

namespace qkv::kernels {

// Native where the CPU has AVX512-BF16 and the call uses no variant, else widened.
void flash_backward_bf16(const FlashDims& dims, float scale, const FlashInBf16& q, const FlashInBf16& k,
                         const FlashInBf16& v, const FlashIn& out, const FlashIn& dout, const float* lse,
                         const FlashMask& mask, float* dq, float* dk, float* dv);

// The same with the kernel named (tests cover both on one CPU). Throws qkv::Error when `kernel`
// is native and flash_bf16_native() is false or the call uses a variant.
void flash_backward_bf16_with(Bf16Kernel kernel, const FlashDims& dims, float scale, const FlashInBf16& q,
                              const FlashInBf16& k, const FlashInBf16& v, const FlashIn& out, const FlashIn& dout,
                              const float* lse, const FlashMask& mask, float* dq, float* dk, float* dv);

}  // namespace qkv::kernels
