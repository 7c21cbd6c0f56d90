#include "qkv/ops/sdpa/sdpa_range.h"

#include <algorithm>
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

// The largest row norm of a rank-4 tensor (rows along the last dim), in float64.
template <typename T>
double max_row_norm(const Tensor<T>& t) {
  const int64_t B = t.dim(0), H = t.dim(1), L = t.dim(2), d = t.dim(3);
  const int64_t s0 = t.stride(0), s1 = t.stride(1), s2 = t.stride(2), s3 = t.stride(3);
  const T* base = t.data();
  std::vector<double> best(static_cast<size_t>(std::max<int64_t>(1, B * H)), 0.0);
  parallel_for(B * H, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, L * d)), [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const T* head = base + (bh / H) * s0 + (bh % H) * s1;
      double m = 0;
      for (int64_t i = 0; i < L; ++i) {
        const T* row = head + i * s2;
        double sq = 0;
        for (int64_t c = 0; c < d; ++c) {
          const double x = as_double(row[c * s3]);
          sq += x * x;
        }
        if (std::isfinite(sq)) m = std::max(m, sq);  // NaN or inf rows: NaN in, NaN out, as documented
      }
      best[static_cast<size_t>(bh)] = m;
    }
  });
  return std::sqrt(*std::max_element(best.begin(), best.end()));
}

}  // namespace

template <typename T>
bool all_finite_values(const Tensor<T>& t) {
  if constexpr (!std::is_same_v<T, bf16>) {
    if (t.is_contiguous()) {
      const T* p = t.data();
      T acc = 0;  // x − x is 0 for finite x and NaN otherwise; the sum vectorises
      for (int64_t i = 0, n = t.numel(); i < n; ++i) acc += p[i] - p[i];
      return acc == 0;
    }
  }
  bool ok = true;
  t.for_each_offset([&](int64_t off) { ok = ok && std::isfinite(as_double(t.data()[off])); });
  return ok;
}

template <typename T>
void check_score_range(const char* where, const Tensor<T>& q, const Tensor<T>& k, double scale) {
  constexpr bool wide = std::is_same_v<T, double>;
  const double limit = wide ? 9007199254740992.0 : 16777216.0;  // 2^53, 2^24
  const double type_max = wide ? std::numeric_limits<double>::max() : std::numeric_limits<float>::max();
  QKV_CHECK(std::abs(scale) <= type_max, where, ": argument 'scale' is ", scale, "; it overflows ",
            wide ? "float64" : "float32");
  if (q.numel() == 0 || k.numel() == 0) return;
  const double d = static_cast<double>(q.dim(3));
  const double nq = max_row_norm(q), nk = max_row_norm(k);
  const double bound = std::abs(scale) * nq * nk * d;
  QKV_CHECK(!(bound > limit), where, ": the scores are too large for ", wide ? "float64" : "float32",
            ": |scale| * max row norm of 'q' * max row norm of 'k' * d = ", std::abs(scale), " * ", nq, " * ", nk,
            " * ", q.dim(3), " = ", bound, "; expected at most ", limit,
            " (beyond it the softmax of the scores is lost to rounding or overflows; scale q, k or 'scale' down)");
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
template void check_score_range(const char*, const TensorF&, const TensorF&, double);
template void check_score_range(const char*, const TensorD&, const TensorD&, double);
template void check_score_range(const char*, const Tensor<bf16>&, const Tensor<bf16>&, double);
template void check_finite_result(const char*, const char*, const TensorF&, std::initializer_list<const TensorF*>);
template void check_finite_result(const char*, const char*, const TensorD&, std::initializer_list<const TensorD*>);
template void check_finite_result(const char*, const char*, const TensorF&,
                                  std::initializer_list<const Tensor<bf16>*>);

}  // namespace qkv
