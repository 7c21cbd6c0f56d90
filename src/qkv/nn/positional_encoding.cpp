#include "qkv/nn/positional_encoding.h"

#include <cmath>

namespace qkv {

namespace {

// Y = X + table[start : start + L], X (B, L, E).
template <typename T>
Tensor<T> add_rows(const char* where, const Tensor<T>& x_in, const Tensor<T>& table, int64_t start) {
  check_rank(where, "x", x_in, 3);
  const int64_t max_len = table.dim(0), E = table.dim(1);
  check_shape(where, "x", x_in, {-1, -1, E});
  const int64_t B = x_in.dim(0), L = x_in.dim(1);
  QKV_CHECK(start >= 0 && start + L <= max_len, where, ": positions [", start, ", ", start + L,
            ") of argument 'x' exceed the table of max_len ", max_len);
  const Tensor<T> x = x_in.contiguous();
  Tensor<T> y(x.shape());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const T* p = table.data() + (start + l) * E;
      const T* xi = x.data() + (b * L + l) * E;
      T* yi = y.data() + (b * L + l) * E;
      for (int64_t e = 0; e < E; ++e) yi[e] = xi[e] + p[e];
    }
  return y;
}

}  // namespace

template <typename T>
Tensor<T> sinusoidal_table(int64_t max_len, int64_t E) {
  QKV_CHECK(max_len >= 0 && E > 0, "sinusoidal_table: max_len=", max_len, " and E=", E,
            "; expected max_len >= 0 and E > 0");
  Tensor<T> P({max_len, E});
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int64_t c = 0; c < E; c += 2) {
      const double angle = static_cast<double>(pos) / std::pow(10000.0, static_cast<double>(c) / E);
      P.data()[pos * E + c] = static_cast<T>(std::sin(angle));
      if (c + 1 < E) P.data()[pos * E + c + 1] = static_cast<T>(std::cos(angle));
    }
  return P;
}

template <typename T>
SinusoidalPositionalEncoding<T>::SinusoidalPositionalEncoding(int64_t E, int64_t max_len)
    : table_(sinusoidal_table<T>(max_len, E)) {}

template <typename T>
Tensor<T> SinusoidalPositionalEncoding<T>::forward(const Tensor<T>& x, int64_t start) const {
  QKV_CHECK(table_.defined(), "SinusoidalPositionalEncoding: not initialised (use the constructor with E)");
  return add_rows("SinusoidalPositionalEncoding", x, table_, start);
}

template <typename T>
LearnedPositionalEncoding<T>::LearnedPositionalEncoding(int64_t max_len, int64_t E, Rng& rng, double stddev)
    : weight({max_len, E}, /*decay=*/false) {
  QKV_CHECK(max_len > 0 && E > 0, "LearnedPositionalEncoding: max_len=", max_len, " and E=", E,
            " must both be positive");
  for (int64_t i = 0; i < weight.value.numel(); ++i) weight.value[i] = static_cast<T>(rng.normal() * stddev);
}

template <typename T>
Tensor<T> LearnedPositionalEncoding<T>::forward(const Tensor<T>& x, int64_t start) {
  QKV_CHECK(weight.value.defined(), "LearnedPositionalEncoding: not initialised (use the constructor with sizes)");
  Tensor<T> y = add_rows("LearnedPositionalEncoding", x, weight.value, start);
  start_ = start;
  length_ = x.dim(1);
  return y;
}

template <typename T>
Tensor<T> LearnedPositionalEncoding<T>::backward(const Tensor<T>& dy_in) {
  constexpr const char* where = "LearnedPositionalEncoding.backward";
  QKV_CHECK(start_ >= 0, where, ": called before forward");
  const int64_t E = weight.value.dim(1);
  check_rank(where, "dy", dy_in, 3);
  check_shape(where, "dy", dy_in, {-1, length_, E});
  const Tensor<T> dy = dy_in.contiguous();
  for (int64_t b = 0; b < dy.dim(0); ++b)
    for (int64_t l = 0; l < length_; ++l) {
      T* g = weight.grad.data() + (start_ + l) * E;
      const T* d = dy.data() + (b * length_ + l) * E;
      for (int64_t e = 0; e < E; ++e) g[e] += d[e];
    }
  return dy_in;
}

template <typename T>
void LearnedPositionalEncoding<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight", &weight);
}

template Tensor<float> sinusoidal_table(int64_t, int64_t);
template Tensor<double> sinusoidal_table(int64_t, int64_t);
template class SinusoidalPositionalEncoding<float>;
template class SinusoidalPositionalEncoding<double>;
template class LearnedPositionalEncoding<float>;
template class LearnedPositionalEncoding<double>;

}  // namespace qkv
