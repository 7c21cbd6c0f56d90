#include "qkv/nn/drop_path.h"

#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"

namespace qkv::nn {

std::vector<double> drop_path_scales(uint64_t seed, int64_t batch, double p) {
  QKV_CHECK(p >= 0 && p < 1, "drop_path_scales: p=", p, "; expected [0, 1)");
  std::vector<double> s(static_cast<size_t>(batch), 1.0);
  if (p == 0) return s;
  for (int64_t b = 0; b < batch; ++b)
    s[static_cast<size_t>(b)] = counter_uniform(seed, static_cast<uint64_t>(b)) < p ? 0.0 : 1.0 / (1.0 - p);
  return s;
}

template <typename T>
void drop_path_add(const T* x, const T* f, T* y, const std::vector<double>& s, int64_t n) {
  parallel_for(static_cast<int64_t>(s.size()), 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T k = static_cast<T>(s[static_cast<size_t>(b)]);
      for (int64_t i = b * n; i < (b + 1) * n; ++i) y[i] = x[i] + k * f[i];
    }
  });
}

template <typename T>
void drop_path_scale_rows(const T* dy, T* df, const std::vector<double>& s, int64_t n) {
  parallel_for(static_cast<int64_t>(s.size()), 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T k = static_cast<T>(s[static_cast<size_t>(b)]);
      for (int64_t i = b * n; i < (b + 1) * n; ++i) df[i] = k * dy[i];
    }
  });
}

template void drop_path_add<float>(const float*, const float*, float*, const std::vector<double>&, int64_t);
template void drop_path_add<double>(const double*, const double*, double*, const std::vector<double>&, int64_t);
template void drop_path_scale_rows<float>(const float*, float*, const std::vector<double>&, int64_t);
template void drop_path_scale_rows<double>(const double*, double*, const std::vector<double>&, int64_t);

}  // namespace qkv::nn
