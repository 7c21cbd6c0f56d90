// NumPy ↔ qkv::Tensor at the Python boundary (header-only, shared by python/bind_*.cpp).
//
// Dtype policy (documented in the module and tested in tests/python/test_errors.py):
//   float arguments: float32 arrays are used without a copy (when C-contiguous); other floating
//     dtypes (float64, float16) are converted to float32 explicitly, so NumPy's default float64
//     works; bool, integer, complex, string and object arrays raise TypeError naming the argument.
//   masks: bool arrays are boolean masks, floating arrays are additive masks; others TypeError.
//   lengths (valid_lens): integer arrays (converted to int64); others TypeError.
// Outputs are new float32 arrays (copies of module buffers, or owning fresh library tensors).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "qkv/core/rng.h"
#include "qkv/core/tensor.h"

namespace qkv::python {

namespace py = pybind11;

// The module's generator: dropout seeds and parameter initialisation (qkv.manual_seed resets it).
inline Rng& python_rng() {
  static Rng rng(0);
  return rng;
}

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// Any array-like as a NumPy array; TypeError naming the argument when NumPy cannot take it.
inline py::array as_array(py::handle obj, const char* fn, const char* arg) {
  if (obj.is_none()) throw py::type_error(str(fn, ": argument '", arg, "' is None; expected an array"));
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(str(fn, ": argument '", arg, "' of type ", py::str(py::type::of(obj)).cast<std::string>(),
                             " is not an array"));
  }
  return a;
}

// NumPy could not make the contiguous copy (e.g. a broadcast view of 10^12 elements): a
// MemoryError naming the argument, its shape and the bytes asked for.
[[noreturn]] inline void conversion_failed(const py::array& a, const char* fn, const char* arg, const char* dtype,
                                           size_t item_bytes) {
  std::string shape = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
  shape += a.ndim() == 1 ? ",)" : ")";
  const double bytes = static_cast<double>(a.size()) * static_cast<double>(item_bytes);
  PyErr_SetString(PyExc_MemoryError, str(fn, ": argument '", arg, "' of shape ", shape, " (", a.size(),
                                         " elements) needs ", bytes, " bytes as a contiguous ", dtype,
                                         " array, which could not be allocated")
                                         .c_str());
  throw py::error_already_set();
}

// A float32 view of a NumPy array; `keep` owns the memory the tensor borrows.
struct FloatArray {
  py::array_t<float, py::array::c_style> keep;
  TensorF t;
};

inline FloatArray float_array(py::handle obj, const char* fn, const char* arg) {
  py::array a = as_array(obj, fn, arg);
  if (a.dtype().kind() != 'f')
    throw py::type_error(str(fn, ": argument '", arg, "' has dtype ", dtype_name(a),
                             "; expected a floating array (float32, or float64 converted to float32)"));
  FloatArray out;
  auto converted = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!converted) conversion_failed(a, fn, arg, "float32", sizeof(float));
  out.keep = std::move(converted);
  Shape shape(out.keep.shape(), out.keep.shape() + out.keep.ndim());
  out.t = TensorF::borrow(const_cast<float*>(out.keep.data()), shape);
  return out;
}

struct BoolArray {
  py::array_t<bool, py::array::c_style> keep;
  TensorB t;
};

inline BoolArray bool_array(const py::array& a, const char* fn = "", const char* arg = "mask") {
  BoolArray out;
  auto converted = py::array_t<bool, py::array::c_style>::ensure(a);
  if (!converted) conversion_failed(a, fn, arg, "bool", sizeof(bool));
  out.keep = std::move(converted);
  Shape shape(out.keep.shape(), out.keep.shape() + out.keep.ndim());
  out.t = TensorB::borrow(reinterpret_cast<uint8_t*>(const_cast<bool*>(out.keep.data())), shape);
  return out;
}

struct IntArray {
  py::array_t<int64_t, py::array::c_style> keep;
  TensorI t;
};

inline IntArray int_array(py::handle obj, const char* fn, const char* arg) {
  py::array a = as_array(obj, fn, arg);
  char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error(str(fn, ": argument '", arg, "' has dtype ", dtype_name(a), "; expected an integer array"));
  IntArray out;
  auto converted = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!converted) conversion_failed(a, fn, arg, "int64", sizeof(int64_t));
  out.keep = std::move(converted);
  Shape shape(out.keep.shape(), out.keep.shape() + out.keep.ndim());
  out.t = TensorI::borrow(const_cast<int64_t*>(out.keep.data()), shape);
  return out;
}

// Throws ValueError (qkv::Error) naming the argument when an input holds NaN or ±inf;
// allow_neg_inf for additive masks, where −inf means "masked".
inline void check_values(const char* fn, const char* arg, const TensorF& t, bool allow_neg_inf = false) {
  const float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    float x = p[i];
    if (x - x == 0.0f) continue;
    if (allow_neg_inf && x < 0) continue;
    fail(fn, ": argument '", arg, "' contains ", x != x ? "NaN" : "infinite", " values",
         allow_neg_inf ? " (only -inf is allowed in a float mask)" : "");
  }
}

// A new float32 NumPy array owning a copy of t (any strides), of shape `shape` (default t's).
inline py::array_t<float> to_numpy(const TensorF& t, const Shape& shape = {}) {
  const Shape& s = shape.empty() && t.rank() > 0 ? t.shape() : shape;
  py::array_t<float> a(std::vector<py::ssize_t>(s.begin(), s.end()));
  float* out = a.mutable_data();
  int64_t k = 0;
  t.for_each_offset([&](int64_t off) { out[k++] = t.data()[off]; });
  return a;
}

// A float32 NumPy array that takes over a fresh library tensor without copying (contiguous t).
inline py::array_t<float> adopt_numpy(const TensorF& t, const Shape& shape) {
  if (!t.is_contiguous()) return to_numpy(t, shape);
  auto* owner = new TensorF(t);
  py::capsule base(owner, [](void* p) { delete static_cast<TensorF*>(p); });
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<float>(dims, owner->data(), base);
}

// An array-like argument: any object, converted by float_array / int_array / mask helpers inside
// the function (so errors name the argument); shown as numpy.ndarray in signatures.
struct ArrayArg {
  py::object obj;
  operator py::handle() const { return obj; }
  bool is_none() const { return obj.is_none(); }
  bool is(const ArrayArg& other) const { return obj.is(other.obj); }
};

}  // namespace qkv::python

namespace pybind11::detail {
template <>
struct type_caster<qkv::python::ArrayArg> {
  PYBIND11_TYPE_CASTER(qkv::python::ArrayArg, const_name("numpy.ndarray"));
  bool load(handle src, bool) {
    value.obj = reinterpret_borrow<object>(src);
    return true;
  }
  static handle cast(const qkv::python::ArrayArg& a, return_value_policy, handle) { return a.obj.inc_ref(); }
};
}  // namespace pybind11::detail
