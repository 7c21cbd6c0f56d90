// The 2-D convolution's one backend switch and its float path: oneDNN's convolution primitives.
//
// Float: one set of primitives per (shape, oneDNN's thread count), created on first use and kept:
// convolution_forward (direct algorithm, with bias: a zero bias when b is nullptr),
// convolution_backward_data, and convolution_backward_weights (with the bias gradient). The
// caller's buffers are plain NCHW / OIHW; each primitive picks its own layout (format `any`, the
// channel-blocked layouts of oneDNN's jit kernels) and reorders convert at the boundary, into and
// out of buffers of the calling thread. dx is overwritten; dw and db are computed into the
// thread's buffers and added to the caller's by a reorder with a sum post-op (parameter
// gradients accumulate). oneDNN sums the per-thread parts of dw and db in a fixed order, so the
// same thread count gives the same bits.
#include "qkv/ops/conv2d/conv2d.h"

#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "qkv/core/error.h"
#include "qkv/kernels/dnnl_run.h"
#include "qkv/ops/conv2d/conv2d_reference.h"

namespace qkv {
namespace {

using Desc = dnnl::memory::desc;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;

// A reorder from one layout to another, or (accumulate) to += from. Not needed when the
// layouts are the same and nothing accumulates: the data is used where it is.
struct Reorder {
  dnnl::reorder primitive;
  Desc from, to;
  size_t scratchpad_bytes = 0;
  bool needed = false;
};

Reorder make_reorder(const Desc& from, const Desc& to, bool accumulate = false) {
  Reorder r{{}, from, to, 0, accumulate || from != to};
  if (!r.needed) return r;
  dnnl::primitive_attr attr = kernels::user_scratchpad_attr();
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  dnnl::reorder::primitive_desc pd(kernels::dnnl_engine(), from, kernels::dnnl_engine(), to, attr);
  r.primitive = dnnl::reorder(pd);
  r.scratchpad_bytes = pd.scratchpad_desc().get_size();
  return r;
}

void run(const Reorder& r, const void* from, void* to) {
  kernels::run_primitive(r.primitive, r.scratchpad_bytes, {{DNNL_ARG_FROM, &r.from, from}, {DNNL_ARG_TO, &r.to, to}},
                         "conv2d: oneDNN reorder failed");
}

// Buffers of the calling thread, one per role, grown on demand and never shrunk.
enum Buffer { kX, kW, kY, kDy, kDw, kDb, kZeroBias, kBuffers };

float* thread_buffer(Buffer which, size_t bytes) {
  thread_local std::vector<float> buffers[kBuffers];
  std::vector<float>& v = buffers[which];
  if (v.size() * sizeof(float) < bytes) v.resize((bytes + sizeof(float) - 1) / sizeof(float));
  return v.data();
}

// `data` in the layout r converts to: `data` itself, or its copy in the thread's buffer.
const void* in_layout(const Reorder& r, const void* data, Buffer buffer) {
  if (!r.needed) return data;
  void* copy = thread_buffer(buffer, r.to.get_size());
  run(r, data, copy);
  return copy;
}

// Where a primitive writes an output that r converts to the caller's `data`.
void* out_layout(const Reorder& r, void* data, Buffer buffer) {
  return r.needed ? thread_buffer(buffer, r.from.get_size()) : data;
}

// The primitives of one shape. Descriptors: plain (x, w, b, y) and each primitive's own.
struct Conv {
  Desc x, w, b, y;
  dnnl::convolution_forward forward;
  Desc fwd_x, fwd_w, fwd_y;
  size_t fwd_pad = 0;
  Reorder x_to_fwd, w_to_fwd, fwd_to_y;
  dnnl::convolution_backward_data backward_data;
  Desc data_dy, data_w, data_dx;
  size_t data_pad = 0;
  Reorder dy_to_data, w_to_data, data_to_dx;
  dnnl::convolution_backward_weights backward_weights;
  Desc weights_x, weights_dy, weights_dw;
  size_t weights_pad = 0;
  Reorder x_to_weights, dy_to_weights, add_dw, add_db;
};

Conv make_conv(const Conv2dShape& s) {
  Conv c;
  c.x = Desc({s.batch, s.in_channels, s.height, s.width}, kF32, Tag::nchw);
  c.w = Desc({s.out_channels, s.in_channels, s.kernel, s.kernel}, kF32, Tag::oihw);
  c.b = Desc({s.out_channels}, kF32, Tag::x);
  c.y = Desc({s.batch, s.out_channels, s.out_height(), s.out_width()}, kF32, Tag::nchw);
  const Desc x_any(c.x.dims(), kF32, Tag::any), w_any(c.w.dims(), kF32, Tag::any), y_any(c.y.dims(), kF32, Tag::any);
  const dnnl::memory::dims strides{s.stride, s.stride}, pad{s.padding, s.padding};
  const dnnl::primitive_attr attr = kernels::user_scratchpad_attr();
  dnnl::engine& engine = kernels::dnnl_engine();
  using dnnl::algorithm;

  dnnl::convolution_forward::primitive_desc fwd(
      {dnnl::prop_kind::forward_training, algorithm::convolution_direct, x_any, w_any, c.b, y_any, strides, pad, pad},
      attr, engine);
  c.forward = dnnl::convolution_forward(fwd);
  c.fwd_x = fwd.src_desc();
  c.fwd_w = fwd.weights_desc();
  c.fwd_y = fwd.dst_desc();
  c.fwd_pad = fwd.scratchpad_desc().get_size();
  c.x_to_fwd = make_reorder(c.x, c.fwd_x);
  c.w_to_fwd = make_reorder(c.w, c.fwd_w);
  c.fwd_to_y = make_reorder(c.fwd_y, c.y);

  dnnl::convolution_backward_data::primitive_desc data(
      {algorithm::convolution_direct, x_any, w_any, y_any, strides, pad, pad}, attr, engine, fwd);
  c.backward_data = dnnl::convolution_backward_data(data);
  c.data_dy = data.diff_dst_desc();
  c.data_w = data.weights_desc();
  c.data_dx = data.diff_src_desc();
  c.data_pad = data.scratchpad_desc().get_size();
  c.dy_to_data = make_reorder(c.y, c.data_dy);
  c.w_to_data = make_reorder(c.w, c.data_w);
  c.data_to_dx = make_reorder(c.data_dx, c.x);

  dnnl::convolution_backward_weights::primitive_desc weights(
      {algorithm::convolution_direct, x_any, w_any, c.b, y_any, strides, pad, pad}, attr, engine, fwd);
  c.backward_weights = dnnl::convolution_backward_weights(weights);
  c.weights_x = weights.src_desc();
  c.weights_dy = weights.diff_dst_desc();
  c.weights_dw = weights.diff_weights_desc();
  c.weights_pad = weights.scratchpad_desc().get_size();
  c.x_to_weights = make_reorder(c.x, c.weights_x);
  c.dy_to_weights = make_reorder(c.y, c.weights_dy);
  c.add_dw = make_reorder(c.weights_dw, c.w, /*accumulate=*/true);
  c.add_db = make_reorder(c.b, c.b, /*accumulate=*/true);
  return c;
}

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>;

// One Conv per (shape, thread count), created once under the lock; several threads may run it.
const Conv& conv_for(const Conv2dShape& s) {
  static std::mutex mutex;
  static std::map<Key, Conv> cache;
  const Key key{s.batch, s.in_channels, s.height, s.width, s.out_channels, s.kernel, s.stride, s.padding,
                kernels::dnnl_threads()};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) {
    kernels::CreationThreads threads;
    it = cache.emplace(key, make_conv(s)).first;
  }
  return it->second;
}

// b, or zeros of the same size when b is nullptr.
const float* bias_or_zeros(const Conv2dShape& s, const float* b) {
  if (b) return b;
  thread_local std::vector<float> zeros;
  if (zeros.size() < static_cast<size_t>(s.out_channels)) zeros.resize(static_cast<size_t>(s.out_channels), 0.0f);
  return zeros.data();
}

void forward_f32(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
  const Conv& c = conv_for(s);
  const void* x_in = in_layout(c.x_to_fwd, x, kX);
  const void* w_in = in_layout(c.w_to_fwd, w, kW);
  void* y_out = out_layout(c.fwd_to_y, y, kY);
  kernels::run_primitive(c.forward, c.fwd_pad,
                         {{DNNL_ARG_SRC, &c.fwd_x, x_in},
                          {DNNL_ARG_WEIGHTS, &c.fwd_w, w_in},
                          {DNNL_ARG_BIAS, &c.b, bias_or_zeros(s, b)},
                          {DNNL_ARG_DST, &c.fwd_y, y_out}},
                         "conv2d: oneDNN convolution forward failed");
  if (c.fwd_to_y.needed) run(c.fwd_to_y, y_out, y);
}

void backward_f32(const Conv2dShape& s, const float* dy, const float* x, const float* w, float* dx, float* dw,
                  float* db) {
  const Conv& c = conv_for(s);
  if (dx) {
    const void* dy_in = in_layout(c.dy_to_data, dy, kDy);
    const void* w_in = in_layout(c.w_to_data, w, kW);
    void* dx_out = out_layout(c.data_to_dx, dx, kX);
    kernels::run_primitive(c.backward_data, c.data_pad,
                           {{DNNL_ARG_DIFF_DST, &c.data_dy, dy_in},
                            {DNNL_ARG_WEIGHTS, &c.data_w, w_in},
                            {DNNL_ARG_DIFF_SRC, &c.data_dx, dx_out}},
                           "conv2d: oneDNN convolution backward (data) failed");
    if (c.data_to_dx.needed) run(c.data_to_dx, dx_out, dx);
  }
  const void* x_in = in_layout(c.x_to_weights, x, kX);
  const void* dy_in = in_layout(c.dy_to_weights, dy, kDy);
  float* dw_out = thread_buffer(kDw, c.weights_dw.get_size());
  float* db_out = thread_buffer(kDb, c.b.get_size());
  kernels::run_primitive(c.backward_weights, c.weights_pad,
                         {{DNNL_ARG_SRC, &c.weights_x, x_in},
                          {DNNL_ARG_DIFF_DST, &c.weights_dy, dy_in},
                          {DNNL_ARG_DIFF_WEIGHTS, &c.weights_dw, dw_out},
                          {DNNL_ARG_DIFF_BIAS, &c.b, db_out}},
                         "conv2d: oneDNN convolution backward (weights) failed");
  run(c.add_dw, dw_out, dw);
  if (db) run(c.add_db, db_out, db);
}

}  // namespace

void Conv2dShape::validate(const char* who) const {
  QKV_CHECK(batch >= 1, who, ": batch=", batch, "; expected >= 1");
  QKV_CHECK(in_channels >= 1, who, ": in_channels=", in_channels, "; expected >= 1");
  QKV_CHECK(out_channels >= 1, who, ": out_channels=", out_channels, "; expected >= 1");
  QKV_CHECK(height >= 1 && width >= 1, who, ": input size ", height, "x", width, "; expected at least 1x1");
  QKV_CHECK(kernel >= 1, who, ": kernel=", kernel, "; expected >= 1");
  QKV_CHECK(stride >= 1, who, ": stride=", stride, "; expected >= 1");
  QKV_CHECK(padding >= 0 && padding < kernel, who, ": padding=", padding, "; expected 0..", kernel - 1,
            " (below kernel=", kernel, ")");
  QKV_CHECK(kernel <= height + 2 * padding && kernel <= width + 2 * padding, who, ": kernel=", kernel,
            " is larger than the padded input ", height + 2 * padding, "x", width + 2 * padding);
}

template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    forward_f32(s, x, w, b, y);
  } else {
    conv2d_reference_forward(s, x, w, b, y);
  }
}

template <typename T>
void conv2d_backward(const Conv2dShape& s, const T* dy, const T* x, const T* w, T* dx, T* dw, T* db) {
  if constexpr (std::is_same_v<T, float>) {
    backward_f32(s, dy, x, w, dx, dw, db);
  } else {
    conv2d_reference_backward(s, dy, x, w, dx, dw, db);
  }
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, float*,
                                     float*);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                      double*, double*);

}  // namespace qkv
