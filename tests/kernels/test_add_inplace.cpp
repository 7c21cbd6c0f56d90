// add_inplace: the Highway kernel (float) on every SIMD target at 1 and 2 threads gives exactly
// the plain loop's sums (one rounding per element either way), including the tails.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/kernels/add_inplace.h"

using namespace qkv;

TEST(KernelsAddInplace, EveryTargetEqualsThePlainLoop) {
  for (int64_t n : {1, 15, 17, 1000, 40001}) {
    Rng rng(static_cast<uint64_t>(n));
    const TensorF y0 = test::randn<float>({n}, rng), x = test::randn<float>({n}, rng);
    TensorF want = y0.clone();
    for (int64_t i = 0; i < n; ++i) want[i] += x[i];
    TensorD yd = y0.cast<double>();
    const TensorD xd = x.cast<double>();
    kernels::add_inplace(yd.data(), xd.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(yd[i], static_cast<double>(y0[i]) + xd[i]) << "n=" << n;
    test::for_each_target_and_thread_count([&](const std::string& label) {
      TensorF y = y0.clone();
      kernels::add_inplace(y.data(), x.data(), n);
      EXPECT_EQ(y.to_vector(), want.to_vector()) << label << " n=" << n;
    });
  }
}
