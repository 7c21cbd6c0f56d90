#include "qkv/ops/rotary/rotary.h"

#include <cmath>

#include "qkv/core/parallel.h"

namespace qkv {

namespace {

constexpr int64_t kMaxPosition = int64_t{1} << 40;  // angles stay exact enough in double far below 2^53

// Checks x and the options; returns r.
template <typename T>
int64_t checked_rotary_dim(const char* where, const char* arg, const Tensor<T>& x, const RotaryOptions& o) {
  check_rank(where, arg, x, 4);
  const int64_t B = x.dim(0), d = x.dim(3);
  const int64_t r = o.rotary_dim == 0 ? d : o.rotary_dim;
  QKV_CHECK(r > 0 && r <= d && r % 2 == 0, where, ": rotary_dim=", o.rotary_dim, " for head width d=", d,
            "; expected 0 (all of d) or an even number from 2 to d");
  QKV_CHECK(std::isfinite(o.base) && o.base > 1.0, where, ": base=", o.base, "; expected a finite number > 1");
  const size_t n = o.position_offsets.size();
  QKV_CHECK(n <= 1 || static_cast<int64_t>(n) == B, where, ": position_offsets has ", n,
            " values; expected none, one, or one per batch (B=", B, ")");
  for (int64_t offset : o.position_offsets)
    QKV_CHECK(offset >= 0 && offset <= kMaxPosition - x.dim(2), where, ": position offset ", offset,
              " with L=", x.dim(2), " tokens; expected 0 <= offset and offset + L <= 2^40");
  return r;
}

// y = R(sign · a) x for every token; sign = +1 forward, −1 backward.
template <typename T>
Tensor<T> rotate(const char* where, const char* arg, const Tensor<T>& x_in, const RotaryOptions& o, double sign) {
  const int64_t r = checked_rotary_dim(where, arg, x_in, o);
  const Tensor<T> x = x_in.contiguous();
  const int64_t B = x.dim(0), H = x.dim(1), L = x.dim(2), d = x.dim(3), half = r / 2;
  std::vector<double> theta(static_cast<size_t>(half));
  for (int64_t p = 0; p < half; ++p)
    theta[static_cast<size_t>(p)] = std::pow(o.base, -2.0 * static_cast<double>(p) / static_cast<double>(r));
  const int64_t first_stride = o.interleaved ? 2 : 1;       // where pair p starts
  const int64_t second_offset = o.interleaved ? 1 : half;  // its partner, relative to the start
  Tensor<T> y(x.shape());
  parallel_for(B * L, 16, [&](int64_t begin, int64_t end) {
    std::vector<T> cos_a(static_cast<size_t>(half)), sin_a(static_cast<size_t>(half));
    for (int64_t bl = begin; bl < end; ++bl) {
      const int64_t b = bl / L, l = bl % L;
      const int64_t offset = o.position_offsets.empty() ? 0
                             : o.position_offsets.size() == 1 ? o.position_offsets[0]
                                                              : o.position_offsets[static_cast<size_t>(b)];
      const double position = static_cast<double>(offset + l);
      for (int64_t p = 0; p < half; ++p) {
        const double a = position * theta[static_cast<size_t>(p)];
        cos_a[static_cast<size_t>(p)] = static_cast<T>(std::cos(a));
        sin_a[static_cast<size_t>(p)] = static_cast<T>(sign * std::sin(a));
      }
      for (int64_t h = 0; h < H; ++h) {
        const T* xi = x.data() + ((b * H + h) * L + l) * d;
        T* yi = y.data() + ((b * H + h) * L + l) * d;
        for (int64_t p = 0; p < half; ++p) {
          const int64_t i = p * first_stride, j = i + second_offset;
          const T c = cos_a[static_cast<size_t>(p)], s = sin_a[static_cast<size_t>(p)];
          yi[i] = xi[i] * c - xi[j] * s;
          yi[j] = xi[i] * s + xi[j] * c;
        }
        for (int64_t e = r; e < d; ++e) yi[e] = xi[e];
      }
    }
  });
  return y;
}

}  // namespace

template <typename T>
Tensor<T> rotary_forward(const Tensor<T>& x, const RotaryOptions& options) {
  return rotate("rotary_forward", "x", x, options, 1.0);
}

template <typename T>
Tensor<T> rotary_backward(const Tensor<T>& dy, const RotaryOptions& options) {
  return rotate("rotary_backward", "dy", dy, options, -1.0);
}

template Tensor<float> rotary_forward(const Tensor<float>&, const RotaryOptions&);
template Tensor<double> rotary_forward(const Tensor<double>&, const RotaryOptions&);
template Tensor<float> rotary_backward(const Tensor<float>&, const RotaryOptions&);
template Tensor<double> rotary_backward(const Tensor<double>&, const RotaryOptions&);

}  // namespace qkv
