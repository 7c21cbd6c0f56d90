#include "qkv/ops/sdpa/sdpa_range.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "qkv/core/error.h"
#include "qkv/core/parallel.h"

namespace qkv {
namespace {

template <typename T>
double as_double(T x) {
  if constexpr (std::is_same_v<T, bf16>)
    return static_cast<double>(static_cast<float>(x));
  else
    return static_cast<double>(x);
}

// Σ x[c]² over n contiguous float32 or bf16 values: 16 float32 partial sums (which the compiler
// vectorises, so the pass runs at memory speed: decoding reads all of K here), added as a float32
// tree (a few shuffles; a bound check needs no float64 here, and short rows, d = 16 in the ViT,
// cost about one vector each). Not finite when a square or the sum overflows float32; the caller
// then sums the row in float64.
template <typename T>
double sum_squares_f32(const T* x, int64_t n) {
  auto value = [](T v) {
    if constexpr (std::is_same_v<T, bf16>)
      return std::bit_cast<float>(static_cast<uint32_t>(v.bits) << 16);
    else
      return v;
  };
  float acc[16] = {};
  int64_t c = 0;
  for (; c + 16 <= n; c += 16)
    for (int t = 0; t < 16; ++t) {
      const float v = value(x[c + t]);
      acc[t] += v * v;
    }
  for (int w = 8; w >= 1; w /= 2)
    for (int t = 0; t < w; ++t) acc[t] += acc[t + w];
  double sq = acc[0];
  for (; c < n; ++c) sq += static_cast<double>(value(x[c])) * value(x[c]);
  return sq;
}

}  // namespace

// Float32 partial sums for contiguous float32 and bf16 rows, float64 again for a row whose
// squares overflow them.
template <typename T>
double max_row_norm(const Tensor<T>& t) {
  const int64_t B = t.dim(0), H = t.dim(1), L = t.dim(2), d = t.dim(3);
  const int64_t s0 = t.stride(0), s1 = t.stride(1), s2 = t.stride(2), s3 = t.stride(3);
  const T* base = t.data();
  // Chunks of rows over the threads (one head alone, as in decoding, still uses every core).
  const int64_t rows = B * H * L, per = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, d));
  const int64_t chunks = std::max<int64_t>(1, (rows + per - 1) / per);
  std::vector<double> best(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      double m = 0;
      const int64_t r0 = ch * per, r1 = std::min(rows, (ch + 1) * per);
      // (b, h, i) walks the rows of the chunk in order: divisions once per chunk, not per row.
      int64_t b = r0 / (H * L), h = r0 / L % H, i = r0 % L;
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = base + b * s0 + h * s1 + i * s2;
        double sq = std::numeric_limits<double>::infinity();
        if constexpr (!std::is_same_v<T, double>)
          if (s3 == 1) sq = sum_squares_f32(row, d);
        if (!std::isfinite(sq)) {
          sq = 0;
          for (int64_t c = 0; c < d; ++c) {
            const double x = as_double(row[c * s3]);
            sq += x * x;
          }
        }
        if (std::isfinite(sq)) m = std::max(m, sq);  // NaN or inf rows: NaN in, NaN out, as documented
        if (++i == L) {
          i = 0;
          if (++h == H) h = 0, ++b;
        }
      }
      best[static_cast<size_t>(ch)] = m;
    }
  });
  return std::sqrt(*std::max_element(best.begin(), best.end()));
}

template <typename T>
bool all_finite_values(const Tensor<T>& t) {
  if constexpr (!std::is_same_v<T, bf16>) {
    if (t.is_contiguous()) {
      const T* p = t.data();
      // x − x is 0 for finite x and NaN otherwise; 16 partial sums, so the loop vectorises
      // (one running sum is a chain of dependent additions the compiler may not reorder).
      T acc[16] = {};
      const int64_t n = t.numel();
      int64_t i = 0;
      for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += p[i + j] - p[i + j];
      T total = 0;
      for (; i < n; ++i) total += p[i] - p[i];
      for (T a : acc) total += a;
      return total == 0;
    }
  }
  bool ok = true;
  t.for_each_offset([&](int64_t off) { ok = ok && std::isfinite(as_double(t.data()[off])); });
  return ok;
}

template <typename T>
void check_score_scale(const char* where, double scale) {
  constexpr bool wide = std::is_same_v<T, double>;
  const double type_max = wide ? std::numeric_limits<double>::max() : std::numeric_limits<float>::max();
  QKV_CHECK(std::abs(scale) <= type_max, where, ": argument 'scale' is ", scale, "; it overflows ",
            wide ? "float64" : "float32");
}

template <typename T>
void check_score_bound(const char* where, double scale, double max_q_norm, double max_k_norm, int64_t d) {
  constexpr bool wide = std::is_same_v<T, double>;
  const double limit = wide ? 9007199254740992.0 : 16777216.0;  // 2^53, 2^24
  const double bound = std::abs(scale) * max_q_norm * max_k_norm * static_cast<double>(d);
  QKV_CHECK(!(bound > limit), where, ": the scores are too large for ", wide ? "float64" : "float32",
            ": |scale| * max row norm of 'q' * max row norm of 'k' * d = ", std::abs(scale), " * ", max_q_norm,
            " * ", max_k_norm, " * ", d, " = ", bound, "; expected at most ", limit,
            " (beyond it the softmax of the scores is lost to rounding or overflows; scale q, k or 'scale' down)");
}

template <typename T>
void check_score_range(const char* where, const Tensor<T>& q, const Tensor<T>& k, double scale) {
  check_score_scale<T>(where, scale);
  if (q.numel() == 0 || k.numel() == 0) return;
  check_score_bound<T>(where, scale, max_row_norm(q), max_row_norm(k), q.dim(3));
}

template <typename R, typename T>
void check_finite_result(const char* where, const char* what, const Tensor<R>& result,
                         std::initializer_list<const Tensor<T>*> inputs) {
  if (!result.defined() || all_finite_values(result)) return;
  for (const Tensor<T>* t : inputs)
    if (t && t->defined() && !all_finite_values(*t)) return;
  fail(where, ": the result '", what,
       "' overflows (it holds NaN or inf although every input is finite); scale the inputs down");
}

template bool all_finite_values(const TensorF&);
template bool all_finite_values(const TensorD&);
template bool all_finite_values(const Tensor<bf16>&);
template double max_row_norm(const TensorF&);
template double max_row_norm(const TensorD&);
template double max_row_norm(const Tensor<bf16>&);
template void check_score_scale<float>(const char*, double);
template void check_score_scale<double>(const char*, double);
template void check_score_scale<bf16>(const char*, double);
template void check_score_bound<float>(const char*, double, double, double, int64_t);
template void check_score_bound<double>(const char*, double, double, double, int64_t);
template void check_score_bound<bf16>(const char*, double, double, double, int64_t);
template void check_score_range(const char*, const TensorF&, const TensorF&, double);
template void check_score_range(const char*, const TensorD&, const TensorD&, double);
template void check_score_range(const char*, const Tensor<bf16>&, const Tensor<bf16>&, double);
template void check_finite_result(const char*, const char*, const TensorF&, std::initializer_list<const TensorF*>);
template void check_finite_result(const char*, const char*, const TensorD&, std::initializer_list<const TensorD*>);
template void check_finite_result(const char*, const char*, const TensorF&,
                                  std::initializer_list<const Tensor<bf16>*>);

}  // namespace qkv
