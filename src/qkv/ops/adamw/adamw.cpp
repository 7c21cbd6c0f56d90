// The AdamW update's one backend switch: float → the Highway kernel, double → the reference.
#include "qkv/ops/adamw/adamw.h"

#include <type_traits>

#include "qkv/ops/adamw/adamw_reference.h"
#include "qkv/ops/adamw/adamw_simd.h"

namespace qkv {

template <typename T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep<T>& s) {
  if constexpr (std::is_same_v<T, float>) {
    adamw_simd::update(p, g, m, v, n, s);
  } else {
    adamw_reference_update(p, g, m, v, n, s);
  }
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t, const AdamWStep<float>&);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t, const AdamWStep<double>&);

}  // namespace qkv
