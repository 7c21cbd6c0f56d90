// The AVX-512 16×16 transpose used to pack Kᵀ panels, against the index definition.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <hwy/targets.h>

#include "qkv/ops/sdpa/transpose_avx512.h"

#if defined(__x86_64__) || defined(__i386__)
TEST(TransposeAvx512, SixteenBySixteenIntoAStridedPanel) {
  if (!(hwy::SupportedTargets() & (HWY_AVX3 | HWY_AVX3_DL))) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int64_t ld_src = 37, ldd = 64;
  std::vector<uint32_t> src(16 * ld_src), dst(16 * ldd, 0xdeadbeefu);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint32_t>(i * 2654435761u);
  const void* rows[16];
  for (int t = 0; t < 16; ++t) rows[t] = src.data() + t * ld_src + 3;  // element p of row t: src[t·37 + 3 + p]
  qkv::kernels::transpose16x16_32bit(rows, dst.data() + 5, ldd);
  for (int64_t p = 0; p < 16; ++p)
    for (int64_t c = 0; c < ldd; ++c) {
      const bool written = c >= 5 && c < 21;
      const uint32_t want = written ? src[static_cast<size_t>((c - 5) * ld_src + 3 + p)] : 0xdeadbeefu;
      ASSERT_EQ(dst[static_cast<size_t>(p * ldd + c)], want) << "p=" << p << " column " << c;
    }
}
#endif
