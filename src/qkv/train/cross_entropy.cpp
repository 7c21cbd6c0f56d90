#include "qkv/train/cross_entropy.h"

#include <algorithm>
#include <cmath>

namespace qkv::train {
namespace {

struct RowSoftmax {
  double lse = 0;   // log Σ_c exp(z_c)
  int64_t arg = 0;  // first arg-max
};

template <typename T>
RowSoftmax row_softmax(const T* z, int64_t C, int64_t row) {
  RowSoftmax r;
  double zmax = z[0];
  for (int64_t c = 1; c < C; ++c)
    if (z[c] > zmax) zmax = z[c], r.arg = c;
  QKV_CHECK(std::isfinite(zmax), "cross_entropy: logits row ", row, " contains NaN or infinite values");
  double sum = 0;
  for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(z[c]) - zmax);
  r.lse = zmax + std::log(sum);
  return r;
}

void check_smoothing(double label_smoothing) {
  QKV_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, "cross_entropy: label_smoothing is ",
            label_smoothing, "; expected a value in [0, 1]");
}

}  // namespace

template <typename T>
CrossEntropyResult cross_entropy(const T* logits, const int64_t* labels, int64_t N, int64_t C, T* dlogits,
                                 int64_t ignore_index, double label_smoothing) {
  QKV_CHECK(C > 0, "cross_entropy: number of classes is ", C, "; expected at least 1");
  check_smoothing(label_smoothing);
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
    const auto [lse, arg] = row_softmax(z, C, i);
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

template <typename T>
CrossEntropyResult soft_cross_entropy(const T* logits, const T* targets, int64_t N, int64_t C, T* dlogits,
                                      double label_smoothing) {
  QKV_CHECK(C > 0, "soft_cross_entropy: number of classes is ", C, "; expected at least 1");
  check_smoothing(label_smoothing);
  for (int64_t i = 0; i < N; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double q = targets[i * C + c];
      QKV_CHECK(std::isfinite(q) && q >= 0, "soft_cross_entropy: targets[", i, ", ", c, "] is ", q,
                "; expected a probability >= 0");
      sum += q;
    }
    QKV_CHECK(std::abs(sum - 1.0) <= 1e-4, "soft_cross_entropy: targets row ", i, " sums to ", sum,
              "; expected 1 (a probability distribution over the ", C, " classes)");
  }
  CrossEntropyResult r;
  r.count = N;
  const double inv_count = N ? 1.0 / static_cast<double>(N) : 0.0;
  const double eps_c = label_smoothing / static_cast<double>(C);
  double total = 0;
  for (int64_t i = 0; i < N; ++i) {
    const T* z = logits + i * C;
    const T* t = targets + i * C;
    const auto [lse, arg] = row_softmax(z, C, i);
    const int64_t dominant = std::max_element(t, t + C) - t;
    if (arg == dominant) ++r.correct;
    for (int64_t c = 0; c < C; ++c) {
      const double q = (1.0 - label_smoothing) * static_cast<double>(t[c]) + eps_c;
      total += q * (lse - static_cast<double>(z[c]));
      if (dlogits) dlogits[i * C + c] = static_cast<T>((std::exp(static_cast<double>(z[c]) - lse) - q) * inv_count);
    }
  }
  r.loss = total * inv_count;
  return r;
}

template <typename T>
CrossEntropyResult soft_cross_entropy(const Tensor<T>& logits, const Tensor<T>& targets, Tensor<T>* dlogits,
                                      double label_smoothing) {
  check_rank("soft_cross_entropy", "logits", logits, 2);
  check_shape("soft_cross_entropy", "targets", targets, logits.shape());
  Tensor<T> z = logits.contiguous();
  Tensor<T> q = targets.contiguous();
  T* dz = nullptr;
  if (dlogits) dz = ensure_shape(*dlogits, z.shape()).data();
  return soft_cross_entropy(z.data(), q.data(), z.dim(0), z.dim(1), dz, label_smoothing);
}

template CrossEntropyResult cross_entropy<float>(const float*, const int64_t*, int64_t, int64_t, float*, int64_t,
                                                 double);
template CrossEntropyResult cross_entropy<double>(const double*, const int64_t*, int64_t, int64_t, double*,
                                                  int64_t, double);
template CrossEntropyResult cross_entropy<float>(const TensorF&, const TensorI&, TensorF*, int64_t, double);
template CrossEntropyResult cross_entropy<double>(const TensorD&, const TensorI&, TensorD*, int64_t, double);
template CrossEntropyResult soft_cross_entropy<float>(const float*, const float*, int64_t, int64_t, float*, double);
template CrossEntropyResult soft_cross_entropy<double>(const double*, const double*, int64_t, int64_t, double*, double);
template CrossEntropyResult soft_cross_entropy<float>(const TensorF&, const TensorF&, TensorF*, double);
template CrossEntropyResult soft_cross_entropy<double>(const TensorD&, const TensorD&, TensorD*, double);

}  // namespace qkv::train
