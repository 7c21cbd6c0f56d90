// The key norms the forward kernels measure while streaming K (flash.h's KeyNorms), which the
// score-range check takes instead of reading K again: every streamed key counted once, the
// largest Σ k² as a separate float64 pass finds it, overflow and NaN flagged, nothing claimed
// when K is not streamed or a mask skips keys. float32, and bf16 through both of its kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "qkv/core/parallel.h"
#include "qkv/ops/sdpa/flash.h"
#include "qkv/ops/sdpa/flash_adapter.h"
#include "ops/sdpa/flash_test_util.h"

namespace qkv::flash_test {
namespace {

using kernels::KeyNorms;

// The largest squared row norm of k (B, H, Lk, d), in float64 over its float32 values.
double max_sq_of(const TensorF& k) {
  const int64_t d = k.dim(3);
  double best = 0;
  for (int64_t r = 0; r < k.numel() / d; ++r) {
    double sq = 0;
    for (int64_t c = 0; c < d; ++c) sq += static_cast<double>(k[r * d + c]) * k[r * d + c];
    best = std::max(best, sq);
  }
  return best;
}

enum class Kernel { f32, bf16_native, bf16_widened };

const char* kernel_name(Kernel k) {
  return k == Kernel::f32 ? "float32" : k == Kernel::bf16_native ? "bf16 native" : "bf16 widened";
}

// One forward of the named kernel on q, k, v (bf16 kernels: the values rounded to bf16 first),
// returning what it measured.
KeyNorms measure(Kernel kernel, const TensorF& q, const TensorF& k, const TensorF& v, const AttentionMask& mask) {
  const kernels::FlashDims dm = flash_adapter::dims_of(q.shape(), k.shape(), v.shape());
  const flash_adapter::Mask m = flash_adapter::make_mask(mask, {}, dm.B, dm.H, dm.Lq, dm.Lk);
  const float scale = flash_adapter::scale_of({}, dm.d);
  TensorF out({dm.B, dm.H, dm.Lq, dm.dv}), lse({dm.B, dm.H, dm.Lq});
  KeyNorms seen;
  seen.rows = -1;  // the kernel must overwrite it
  if (kernel == Kernel::f32) {
    TensorF qk, kk, vk;
    kernels::flash_forward(dm, scale, flash_adapter::view_of(q, qk), flash_adapter::view_of(k, kk),
                           flash_adapter::view_of(v, vk), m.fm, out.data(), lse.data(), &seen);
    return seen;
  }
  const Tensor<bf16> qb = to_bf16(q), kb = to_bf16(k), vb = to_bf16(v);
  kernels::flash_forward_bf16_with(kernel == Kernel::bf16_native ? kernels::Bf16Kernel::native
                                                                 : kernels::Bf16Kernel::widened,
                                   dm, scale, bf16_view(qb), bf16_view(kb), bf16_view(vb), m.fm, out.data(), lse.data(),
                                   &seen);
  return seen;
}

std::vector<Kernel> kernels_here() {
  std::vector<Kernel> ks{Kernel::f32, Kernel::bf16_widened};
  if (kernels::flash_bf16_native()) ks.push_back(Kernel::bf16_native);
  return ks;
}

TEST(FlashKeyNorms, DecodingMeasuresEveryKeyOnceAndFindsTheLargest) {
  // Lq = 1 against 1000 keys (a partial last step and panel), 1 and 2 threads: with 2 threads and
  // one head the f32 kernel splits the keys over the workers.
  for (Kernel kernel : kernels_here())
    for (int threads : {1, 2})
      for (int64_t H : {int64_t{1}, int64_t{3}}) {
        SCOPED_TRACE(std::string(kernel_name(kernel)) + " threads " + std::to_string(threads) + " H " +
                     std::to_string(H));
        Rng rng(static_cast<uint64_t>(11 + H));
        const TensorF q = randn({2, H, 1, 64}, rng), v = randn({2, H, 1000, 32}, rng);
        TensorF k = randn({2, H, 1000, 64}, rng);
        for (int64_t c = 0; c < 64; ++c) k[(H * 1000 + 777) * 64 + c] *= 3.0f;  // one row stands out
        const TensorF kr = kernel == Kernel::f32 ? k : bf16_rounded(k);
        const int saved = num_threads();
        set_num_threads(threads);
        const KeyNorms seen = measure(kernel, q, k, v, {});
        set_num_threads(saved);
        EXPECT_EQ(seen.rows, 2 * H * 1000);
        EXPECT_TRUE(seen.finite);
        EXPECT_NEAR(seen.max_sq, max_sq_of(kr), 1e-5 * max_sq_of(kr));
      }
}

TEST(FlashKeyNorms, OverflowAndNanAreFlaggedNotHidden) {
  for (Kernel kernel : kernels_here()) {
    SCOPED_TRACE(kernel_name(kernel));
    Rng rng(12);
    const TensorF q = randn({1, 2, 1, 16}, rng), v = randn({1, 2, 300, 16}, rng);
    TensorF huge = randn({1, 2, 300, 16}, rng), nan = huge.clone();
    huge[(300 + 5) * 16] = 3e19f;  // its square overflows float32
    nan[(300 + 299) * 16 + 3] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_FALSE(measure(kernel, q, huge, v, {}).finite);
    EXPECT_FALSE(measure(kernel, q, nan, v, {}).finite);
  }
}

TEST(FlashKeyNorms, NothingIsClaimedForKeysTheKernelDoesNotStream) {
  for (Kernel kernel : kernels_here()) {
    SCOPED_TRACE(kernel_name(kernel));
    Rng rng(13);
    // Many query rows: K is packed per head up front, not streamed, so nothing is measured.
    const TensorF q = randn({1, 1, 200, 32}, rng), k = randn({1, 1, 300, 32}, rng), v = randn({1, 1, 300, 8}, rng);
    EXPECT_EQ(measure(kernel, q, k, v, {}).rows, 0);
    // Decoding with valid lengths: the keys past them are never read, so the count falls short
    // of B·H·Lk and the caller measures K itself.
    const TensorF q1 = randn({2, 1, 1, 32}, rng), k2 = randn({2, 1, 600, 32}, rng), v2 = randn({2, 1, 600, 8}, rng);
    AttentionMask lens;
    lens.valid_lens = TensorI({2});
    lens.valid_lens[0] = 100;
    lens.valid_lens[1] = 600;
    const KeyNorms seen = measure(kernel, q1, k2, v2, lens);
    EXPECT_GT(seen.rows, 0);
    EXPECT_LT(seen.rows, 2 * 600);
  }
}

}  // namespace
}  // namespace qkv::flash_test
