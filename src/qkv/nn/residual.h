// Residual connections: out = a + b (same shape), into a reused buffer.
//
//   a, b: any shape (made contiguous)   out: a's shape; it may be a or b itself
// The backward of a + b is the identity for both inputs, so a caller hands the same gradient
// to both branches and sums what comes back with this same function.
#pragma once

#include <cstring>

#include "qkv/core/tensor.h"
#include "qkv/kernels/add_inplace.h"

namespace qkv::nn {

template <typename T>
const Tensor<T>& add_into(Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
  QKV_CHECK(a.shape() == b.shape(), "residual: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
            " differ");
  const Tensor<T> ac = a.contiguous(), bc = b.contiguous();
  // out may be a or b itself (a sum accumulated in place); only a separate buffer is (re)shaped,
  // since ensure_shape leaves its elements unspecified.
  const bool in_place = out.defined() && out.shape() == a.shape() && out.is_contiguous() &&
                        (out.data() == ac.data() || out.data() == bc.data());
  if (!in_place) ensure_shape(out, a.shape());
  if (out.data() == bc.data()) {
    kernels::add_inplace(out.data(), ac.data(), a.numel());
    return out;
  }
  if (out.data() != ac.data()) std::memcpy(out.data(), ac.data(), sizeof(T) * static_cast<size_t>(a.numel()));
  kernels::add_inplace(out.data(), bc.data(), a.numel());
  return out;
}

}  // namespace qkv::nn
