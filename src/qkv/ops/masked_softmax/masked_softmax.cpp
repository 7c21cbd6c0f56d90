#include "qkv/ops/masked_softmax/masked_softmax.h"

#include <cmath>
#include <limits>
#include <vector>

namespace qkv {

template <typename T>
Tensor<T> masked_softmax(const Tensor<T>& x_in, const AttentionMask& mask) {
  constexpr const char* where = "masked_softmax";
  check_rank(where, "x", x_in, 3);
  const int64_t B = x_in.dim(0), Lq = x_in.dim(1), Lk = x_in.dim(2);
  validate_mask(where, mask, B, 1, Lq, Lk);
  const Tensor<T> x = x_in.contiguous();
  Tensor<T> y({B, Lq, Lk});
  MaskReader reader(mask, B, 1, Lq, Lk);
  constexpr double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> s(static_cast<size_t>(Lk));
  for (int64_t b = 0; b < B; ++b) {
    reader.select(b, 0);
    for (int64_t i = 0; i < Lq; ++i) {
      const T* xi = x.data() + (b * Lq + i) * Lk;
      T* yi = y.data() + (b * Lq + i) * Lk;
      double m = ninf;
      for (int64_t j = 0; j < Lk; ++j) {
        const double xv = static_cast<double>(xi[j]);
        QKV_CHECK(!std::isnan(xv) && xv != -ninf, where, ": argument 'x' has ", xv, " at (", b, ", ", i, ", ", j,
                  "); expected finite scores or -inf");
        s[j] = reader.visible(i, j) ? xv + reader.bias(i, j) : ninf;
        if (s[j] > m) m = s[j];
      }
      if (m == ninf) continue;  // no visible key: zero row
      double sum = 0;
      for (int64_t j = 0; j < Lk; ++j) sum += std::exp(s[j] - m);
      for (int64_t j = 0; j < Lk; ++j) yi[j] = static_cast<T>(std::exp(s[j] - m) / sum);
    }
  }
  return y;
}

template <typename T>
Tensor<T> masked_softmax(const Tensor<T>& x, const TensorI& valid_lens) {
  AttentionMask mask;
  mask.valid_lens = valid_lens;
  return masked_softmax(x, mask);
}

template <typename T>
Tensor<T> masked_softmax_backward(const Tensor<T>& dy_in, const Tensor<T>& y_in) {
  constexpr const char* where = "masked_softmax_backward";
  check_rank(where, "y", y_in, 3);
  check_shape(where, "dy", dy_in, y_in.shape());
  const Tensor<T> dy = dy_in.contiguous(), y = y_in.contiguous();
  const int64_t rows = y.dim(0) * y.dim(1), Lk = y.dim(2);
  Tensor<T> dx(y.shape());
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y.data() + r * Lk;
    const T* gr = dy.data() + r * Lk;
    double dot = 0;
    for (int64_t j = 0; j < Lk; ++j) dot += static_cast<double>(yr[j]) * static_cast<double>(gr[j]);
    T* dr = dx.data() + r * Lk;
    for (int64_t j = 0; j < Lk; ++j) dr[j] = static_cast<T>(static_cast<double>(yr[j]) * (gr[j] - dot));
  }
  return dx;
}

template Tensor<float> masked_softmax(const Tensor<float>&, const TensorI&);
template Tensor<double> masked_softmax(const Tensor<double>&, const TensorI&);
template Tensor<float> masked_softmax(const Tensor<float>&, const AttentionMask&);
template Tensor<double> masked_softmax(const Tensor<double>&, const AttentionMask&);
template Tensor<float> masked_softmax_backward(const Tensor<float>&, const Tensor<float>&);
template Tensor<double> masked_softmax_backward(const Tensor<double>&, const Tensor<double>&);

}  // namespace qkv
