// qkv::Tensor<T> — an n-dimensional, row-major array with shape and strides.
//
// Storage is reference-counted and 64-byte aligned; views (slice, select, transpose, expand,
// view) share it without copying. Strides are in elements and may be 0 (broadcast).
// Tensor<float> is what models use; Tensor<double> runs the same reference ops for gradient
// checks; Tensor<uint8_t> carries boolean masks and Tensor<int64_t> lengths.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <numeric>
#include <vector>

#include "qkv/core/buffer.h"
#include "qkv/core/error.h"

namespace qkv {

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

inline Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

// 64-byte aligned, uninitialised buffer of n elements, freed when the last owner goes.
template <typename T>
std::shared_ptr<T> aligned_buffer(int64_t n) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T);
  return std::shared_ptr<T>(static_cast<T*>(allocate_buffer(bytes)), [](T* q) { std::free(q); });
}

template <typename T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;

  // A new contiguous tensor filled with zeros.
  explicit Tensor(Shape shape) : Tensor(uninitialised(std::move(shape))) { std::fill(data_, data_ + numel(), T{}); }

  // A new contiguous tensor whose elements are not initialised: the caller writes every one.
  static Tensor uninitialised(Shape shape) {
    check_sizes(shape);
    Tensor t;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    t.capacity_ = t.numel();
    t.storage_ = aligned_buffer<T>(t.capacity_);
    t.data_ = t.storage_.get();
    return t;
  }

  static Tensor zeros(Shape shape) { return Tensor(std::move(shape)); }
  static Tensor full(Shape shape, T value) {
    Tensor t(std::move(shape));
    t.fill(value);
    return t;
  }
  static Tensor from(Shape shape, const std::vector<T>& values) {
    Tensor t(std::move(shape));
    QKV_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from: ", values.size(),
              " values given for shape ", shape_str(t.shape()), " (", t.numel(), " elements)");
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  // Wraps memory the caller owns (no copy); the caller keeps it alive.
  static Tensor borrow(T* data, Shape shape, Shape strides = {}) {
    Tensor t;
    t.strides_ = strides.empty() ? contiguous_strides(shape) : std::move(strides);
    t.shape_ = std::move(shape);
    t.data_ = data;
    return t;
  }

  // Becomes a contiguous tensor of `shape` in its present storage when it alone owns that storage,
  // starts at its beginning and the storage holds enough elements; the elements are then
  // unspecified. Returns false (and changes nothing) otherwise.
  bool reuse_storage(const Shape& shape) {
    check_sizes(shape);
    if (!storage_ || storage_.use_count() != 1 || data_ != storage_.get() || numel_of(shape) > capacity_) return false;
    shape_ = shape;
    strides_ = contiguous_strides(shape_);
    return true;
  }

  bool defined() const { return data_ != nullptr || (!shape_.empty() && numel() == 0); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_of(shape_); }
  // Size of dimension i; negative i counts from the end.
  int64_t dim(int i) const { return shape_[static_cast<size_t>(wrap_dim(i))]; }
  int64_t stride(int i) const { return strides_[static_cast<size_t>(wrap_dim(i))]; }

  T* data() { return data_; }
  const T* data() const { return data_; }

  bool is_contiguous() const {
    int64_t s = 1;
    for (size_t i = shape_.size(); i-- > 0;) {
      if (shape_[i] != 1 && strides_[i] != s) return false;
      s *= shape_[i];
    }
    return true;
  }

  T& at(std::initializer_list<int64_t> index) { return data_[offset_of(index)]; }
  const T& at(std::initializer_list<int64_t> index) const { return data_[offset_of(index)]; }
  T& operator[](int64_t flat) { return data_[flat]; }  // contiguous tensors only
  const T& operator[](int64_t flat) const { return data_[flat]; }

  void fill(T value) {
    for_each_offset([&](int64_t off) { data_[off] = value; });
  }

  // Same data, new shape (contiguous tensors only). One dimension may be -1.
  Tensor view(Shape shape) const {
    QKV_CHECK(is_contiguous(), "Tensor::view: tensor of shape ", shape_str(shape_),
              " is not contiguous; use reshape()");
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == -1) {
        QKV_CHECK(infer < 0, "Tensor::view: more than one -1 in ", shape_str(shape));
        infer = static_cast<int>(i);
      } else {
        known *= shape[i];
      }
    }
    if (infer >= 0) shape[static_cast<size_t>(infer)] = known ? numel() / known : 0;
    QKV_CHECK(numel_of(shape) == numel(), "Tensor::view: cannot view shape ", shape_str(shape_),
              " (", numel(), " elements) as ", shape_str(shape));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    t.strides_ = contiguous_strides(t.shape_);
    return t;
  }
  Tensor reshape(Shape shape) const { return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape)); }

  Tensor transpose(int a, int b) const {
    Tensor t = *this;
    a = wrap_dim(a);
    b = wrap_dim(b);
    std::swap(t.shape_[static_cast<size_t>(a)], t.shape_[static_cast<size_t>(b)]);
    std::swap(t.strides_[static_cast<size_t>(a)], t.strides_[static_cast<size_t>(b)]);
    return t;
  }
  Tensor permute(const std::vector<int>& order) const {
    QKV_CHECK(static_cast<int>(order.size()) == rank(), "Tensor::permute: order has ", order.size(),
              " entries; expected ", rank());
    Tensor t = *this;
    for (size_t i = 0; i < order.size(); ++i) {
      t.shape_[i] = shape_[static_cast<size_t>(wrap_dim(order[i]))];
      t.strides_[i] = strides_[static_cast<size_t>(wrap_dim(order[i]))];
    }
    return t;
  }
  // Elements [begin, end) along dim.
  Tensor slice(int d, int64_t begin, int64_t end) const {
    d = wrap_dim(d);
    int64_t n = shape_[static_cast<size_t>(d)];
    QKV_CHECK(0 <= begin && begin <= end && end <= n, "Tensor::slice: range [", begin, ", ", end,
              ") out of bounds for dim ", d, " of size ", n);
    Tensor t = *this;
    t.data_ = data_ + begin * strides_[static_cast<size_t>(d)];
    t.shape_[static_cast<size_t>(d)] = end - begin;
    return t;
  }
  // Index i along dim, removing that dim.
  Tensor select(int d, int64_t i) const {
    d = wrap_dim(d);
    int64_t n = shape_[static_cast<size_t>(d)];
    QKV_CHECK(0 <= i && i < n, "Tensor::select: index ", i, " out of bounds for dim ", d, " of size ", n);
    Tensor t = *this;
    t.data_ = data_ + i * strides_[static_cast<size_t>(d)];
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
  }
  // Broadcast view: size-1 dims (or missing leading dims) become stride-0 dims of `shape`.
  Tensor expand(const Shape& shape) const {
    QKV_CHECK(shape.size() >= shape_.size(), "Tensor::expand: cannot expand shape ", shape_str(shape_),
              " to fewer dims ", shape_str(shape));
    Tensor t = *this;
    size_t lead = shape.size() - shape_.size();
    t.shape_ = shape;
    t.strides_.assign(shape.size(), 0);
    for (size_t i = 0; i < shape_.size(); ++i) {
      if (shape_[i] == shape[lead + i]) {
        t.strides_[lead + i] = strides_[i];
      } else {
        QKV_CHECK(shape_[i] == 1, "Tensor::expand: shape ", shape_str(shape_), " does not broadcast to ",
                  shape_str(shape));
      }
    }
    return t;
  }
  // True when expand(shape) would succeed.
  bool broadcasts_to(const Shape& shape) const {
    if (shape.size() < shape_.size()) return false;
    size_t lead = shape.size() - shape_.size();
    for (size_t i = 0; i < shape_.size(); ++i)
      if (shape_[i] != 1 && shape_[i] != shape[lead + i]) return false;
    return true;
  }

  Tensor contiguous() const { return is_contiguous() ? *this : clone(); }
  Tensor clone() const {
    Tensor t(shape_);
    int64_t k = 0;
    for_each_offset([&](int64_t off) { t.data_[k++] = data_[off]; });
    return t;
  }
  template <typename U>
  Tensor<U> cast() const {
    Tensor<U> t(shape_);
    int64_t k = 0;
    U* out = t.data();
    for_each_offset([&](int64_t off) { out[k++] = static_cast<U>(data_[off]); });
    return t;
  }
  // Copies src (same shape) into this tensor's elements, honouring both strides.
  void copy_from(const Tensor& src) {
    QKV_CHECK(src.shape() == shape_, "Tensor::copy_from: source shape ", shape_str(src.shape()),
              " differs from destination shape ", shape_str(shape_));
    Tensor s = src.contiguous();
    int64_t k = 0;
    const T* in = s.data();
    for_each_offset([&](int64_t off) { data_[off] = in[k++]; });
  }
  std::vector<T> to_vector() const {
    std::vector<T> v;
    v.reserve(static_cast<size_t>(numel()));
    for_each_offset([&](int64_t off) { v.push_back(data_[off]); });
    return v;
  }

  // Calls f(offset) for every element in row-major order of the logical shape.
  template <typename F>
  void for_each_offset(F&& f) const {
    int64_t n = numel();
    if (n == 0) return;
    if (is_contiguous()) {
      for (int64_t i = 0; i < n; ++i) f(i);
      return;
    }
    Shape idx(shape_.size(), 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
      f(off);
      for (size_t d = shape_.size(); d-- > 0;) {
        if (++idx[d] < shape_[d]) {
          off += strides_[d];
          break;
        }
        off -= (shape_[d] - 1) * strides_[d];
        idx[d] = 0;
      }
    }
  }

 private:
  int wrap_dim(int i) const {
    int r = rank();
    int w = i < 0 ? i + r : i;
    QKV_CHECK(0 <= w && w < r, "Tensor: dim ", i, " out of range for a tensor of rank ", r);
    return w;
  }
  int64_t offset_of(std::initializer_list<int64_t> index) const {
    QKV_CHECK(static_cast<int>(index.size()) == rank(), "Tensor::at: ", index.size(),
              " indices for a tensor of rank ", rank());
    int64_t off = 0;
    size_t d = 0;
    for (int64_t i : index) {
      QKV_CHECK(0 <= i && i < shape_[d], "Tensor::at: index ", i, " out of bounds for dim ", d, " of size ",
                shape_[d]);
      off += i * strides_[d++];
    }
    return off;
  }

  static void check_sizes(const Shape& shape) {
    for (int64_t s : shape) QKV_CHECK(s >= 0, "Tensor: negative size in shape ", shape_str(shape));
  }

  std::shared_ptr<T> storage_;
  int64_t capacity_ = 0;  // elements in storage_ (from storage_.get())
  T* data_ = nullptr;
  Shape shape_;
  Shape strides_;
};

using TensorF = Tensor<float>;
using TensorD = Tensor<double>;
using TensorB = Tensor<uint8_t>;   // boolean masks: 0 or 1
using TensorI = Tensor<int64_t>;   // lengths, labels, token ids

// Boundary checks with messages that name the argument, expected and actual shapes.
// In `expected`, -1 means "any size".
template <typename T>
void check_shape(const char* where, const char* arg, const Tensor<T>& t, const Shape& expected) {
  bool ok = t.rank() == static_cast<int>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape()[i];
  if (ok) return;
  std::string want = "(";
  for (size_t i = 0; i < expected.size(); ++i)
    want += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
  want += expected.size() == 1 ? ",)" : ")";
  fail(where, ": argument '", arg, "' has shape ", shape_str(t.shape()), "; expected ", want);
}

template <typename T>
void check_rank(const char* where, const char* arg, const Tensor<T>& t, int rank) {
  QKV_CHECK(t.defined() || t.numel() == 0, where, ": argument '", arg, "' is empty (undefined tensor)");
  QKV_CHECK(t.rank() == rank, where, ": argument '", arg, "' has rank ", t.rank(), " (shape ",
            shape_str(t.shape()), "); expected rank ", rank);
}

// Throws when any element is NaN or infinite (inputs that would silently poison results).
template <typename T>
void check_finite(const char* where, const char* arg, const Tensor<T>& t) {
  bool bad = false;
  t.for_each_offset([&](int64_t off) {
    T x = t.data()[off];
    if (!(x - x == x - x)) bad = true;
  });
  QKV_CHECK(!bad, where, ": argument '", arg, "' contains NaN or infinite values");
}

}  // namespace qkv

namespace qkv {

// Makes t a contiguous tensor of `shape` whose elements are unspecified: the caller writes every
// one. It keeps t's storage when the shape already matches, or when t alone owns storage large
// enough (batches of varying length then reuse the largest one's buffers); otherwise it allocates
// without zero-filling. Modules call this for their outputs and caches so a steady-state step
// allocates and clears nothing.
//
// Built with QKV_POISON_BUFFERS (the sanitizer build turns it on), every call fills the elements
// with all-one bytes (NaN for floating types, -1 or 255 for integers), so a caller that reads an
// element it did not write fails its tests instead of depending on stale or zeroed memory.
template <typename T>
Tensor<T>& ensure_shape(Tensor<T>& t, const Shape& shape) {
  const bool same = t.defined() && t.shape() == shape && t.is_contiguous();
  if (!same && !t.reuse_storage(shape)) t = Tensor<T>::uninitialised(shape);
#ifdef QKV_POISON_BUFFERS
  if (t.numel() > 0) std::memset(static_cast<void*>(t.data()), 0xFF, static_cast<size_t>(t.numel()) * sizeof(T));
#endif
  return t;
}

}  // namespace qkv
