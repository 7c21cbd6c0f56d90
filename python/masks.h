// nn.MultiheadAttention-style masks at the Python boundary (header-only, shared by the
// MultiheadAttention and Transformer bindings).
//
// A bool array is a boolean mask (True = do not attend); a floating array is an additive mask
// (only −inf allowed among non-finite values); any other dtype is a TypeError naming the argument.
// MaskKeeper holds the NumPy arrays the tensors borrow until the next call.
#pragma once

#include <vector>

#include "arrays.h"

namespace qkv::python {

class MaskKeeper {
 public:
  void clear() { keep_.clear(); }

  // Sets `as_bool` or `as_float` from obj (None leaves both undefined). `leading_one` views a
  // 1-D mask as (1, n) (an unbatched key_padding_mask).
  void set(const char* fn, const char* arg, py::handle obj, TensorB& as_bool, TensorF& as_float,
           bool leading_one = false) {
    if (obj.is_none()) return;
    py::array a = as_array(obj, fn, arg);
    const char kind = a.dtype().kind();
    if (kind != 'b' && kind != 'f')
      throw py::type_error(str(fn, ": argument '", arg, "' has dtype ", dtype_name(a),
                               "; expected bool (True = do not attend) or a floating additive mask"));
    if (leading_one) a = a.attr("reshape")(py::make_tuple(1, -1));
    if (kind == 'b') {
      BoolArray b = bool_array(a, fn, arg);
      keep_.push_back(b.keep);
      as_bool = b.t;
      return;
    }
    FloatArray f = float_array(a, fn, arg);
    check_values(fn, arg, f.t, /*allow_neg_inf=*/true);
    keep_.push_back(f.keep);
    as_float = f.t;
  }

 private:
  std::vector<py::object> keep_;
};

}  // namespace qkv::python
