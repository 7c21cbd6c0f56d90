// A 16×16 transpose of 32-bit elements with AVX-512F, for packing Kᵀ panels (flash_f32.cpp:
// float keys, flash_bf16.cpp: bf16 pairs). Call only from code compiled for, or dispatched
// to, a CPU with AVX-512F.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns inside its own AVX-512 intrinsics (the `__Y = __Y` of _mm512_undefined_*, GCC bug
// 105593, fixed in GCC 13) wherever they are inlined; the header's code is marked ignored.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace qkv::kernels {

// dst[p·ldd + t] = element p of row t (16 consecutive 32-bit elements at rows[t]), t, p < 16.
__attribute__((target("avx512f"))) inline void transpose16x16_32bit(const void* const* rows, void* dst_v,
                                                                    int64_t ldd) {
  uint32_t* dst = static_cast<uint32_t*>(dst_v);
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(rows[i]);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // r[4g + k] holds, in 128-bit lane L, element 4L + k of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; g += 2)
    for (int k = 0; k < 4; ++k) {
      t[4 * g + k] = _mm512_shuffle_i32x4(r[4 * g + k], r[4 * g + 4 + k], 0x88);      // lanes 0, 2 of both
      t[4 * g + 4 + k] = _mm512_shuffle_i32x4(r[4 * g + k], r[4 * g + 4 + k], 0xdd);  // lanes 1, 3 of both
    }
  // t[4g + k] (g = 0, 2): lanes = (element k of rows 4g.., element 8 + k of rows 4g..,
  // element k of rows 4g + 4.., element 8 + k of rows 4g + 4..); t[4g + 4 + k]: the same for
  // elements 4 + k and 12 + k.
  for (int k = 0; k < 4; ++k)
    for (int half = 0; half < 2; ++half) {
      const __m512i a = t[half * 4 + k], c = t[8 + half * 4 + k];
      const int pa = half * 4 + k;  // elements pa and pa + 8
      _mm512_storeu_si512(dst + pa * ldd, _mm512_shuffle_i32x4(a, c, 0x88));
      _mm512_storeu_si512(dst + (pa + 8) * ldd, _mm512_shuffle_i32x4(a, c, 0xdd));
    }
}

}  // namespace qkv::kernels
#endif
