#include "qkv/train/cross_entropy.h"

#include <cmath>

namespace qkv::train {

template <typename T>
CrossEntropyResult cross_entropy(const T* logits, const int64_t* labels, int64_t N, int64_t C, T* dlogits,
                                 int64_t ignore_index, double label_smoothing) {
  QKV_CHECK(C > 0, "cross_entropy: number of classes is ", C, "; expected at least 1");
  QKV_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, "cross_entropy: label_smoothing is ",
            label_smoothing, "; expected a value in [0, 1]");
  CrossEntropyResult r;
  for (int64_t i = 0; i < N; ++i) {
    int64_t y = labels[i];
    QKV_CHECK(y == ignore_index || (0 <= y && y < C), "cross_entropy: labels[", i, "] is ", y,
              "; expected a class in [0, ", C, ") or ignore_index ", ignore_index);
    if (y != ignore_index) ++r.count;
  }
  const double inv_count = r.count ? 1.0 / static_cast<double>(r.count) : 0.0;
  const double eps_c = label_smoothing / static_cast<double>(C);
  double total = 0;
  for (int64_t i = 0; i < N; ++i) {
    const T* z = logits + i * C;
    T* dz = dlogits ? dlogits + i * C : nullptr;
    int64_t y = labels[i];
    if (y == ignore_index) {
      if (dz)
        for (int64_t c = 0; c < C; ++c) dz[c] = T(0);
      continue;
    }
    int64_t arg = 0;
    double zmax = z[0];
    for (int64_t c = 1; c < C; ++c)
      if (z[c] > zmax) zmax = z[c], arg = c;
    QKV_CHECK(std::isfinite(zmax), "cross_entropy: logits row ", i, " contains NaN or infinite values");
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(z[c]) - zmax);
    const double lse = zmax + std::log(sum);
    double row = (1.0 - label_smoothing) * (lse - z[y]);
    if (label_smoothing > 0)
      for (int64_t c = 0; c < C; ++c) row += eps_c * (lse - z[c]);
    total += row;
    if (arg == y) ++r.correct;
    if (dz) {
      for (int64_t c = 0; c < C; ++c) {
        double q = eps_c + (c == y ? 1.0 - label_smoothing : 0.0);
        dz[c] = static_cast<T>((std::exp(static_cast<double>(z[c]) - lse) - q) * inv_count);
      }
    }
  }
  r.loss = total * inv_count;
  return r;
}

template <typename T>
CrossEntropyResult cross_entropy(const Tensor<T>& logits, const TensorI& labels, Tensor<T>* dlogits,
                                 int64_t ignore_index, double label_smoothing) {
  check_rank("cross_entropy", "logits", logits, 2);
  check_shape("cross_entropy", "labels", labels, {logits.dim(0)});
  Tensor<T> z = logits.contiguous();
  TensorI y = labels.contiguous();
  T* dz = nullptr;
  if (dlogits) dz = ensure_shape(*dlogits, z.shape()).data();
  return cross_entropy(z.data(), y.data(), z.dim(0), z.dim(1), dz, ignore_index, label_smoothing);
}

template CrossEntropyResult cross_entropy<float>(const float*, const int64_t*, int64_t, int64_t, float*, int64_t,
                                                 double);
template CrossEntropyResult cross_entropy<double>(const double*, const int64_t*, int64_t, int64_t, double*,
                                                  int64_t, double);
template CrossEntropyResult cross_entropy<float>(const TensorF&, const TensorI&, TensorF*, int64_t, double);
template CrossEntropyResult cross_entropy<double>(const TensorD&, const TensorI&, TensorD*, int64_t, double);

}  // namespace qkv::train
