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
#include <span>
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
enum Buffer { kIn0, kIn1, kOut, kBiasGradient, kOutputGradient, kBuffers };

float* thread_buffer(Buffer which, size_t bytes) {
  thread_local std::vector<float> buffers[kBuffers];
  std::vector<float>& v = buffers[which];
  if (v.size() * sizeof(float) < bytes) v.resize((bytes + sizeof(float) - 1) / sizeof(float));
  return v.data();
}

// One argument of a step: its oneDNN id, the layout the primitive chose and the caller's plain one.
struct Port {
  int id;
  Desc own, plain;
};

// One convolution primitive on the caller's plain buffers: two inputs and an output, each with
// the reorder from (inputs) or to (output) the plain layout, and an optional plain argument
// `extra` (the bias, or the bias gradient).
struct Step {
  dnnl::primitive primitive;
  size_t scratchpad_bytes = 0;
  int in0_id = 0, in1_id = 0, out_id = 0, extra_id = 0;  // extra_id 0: no extra argument
  Desc in0, in1, out, extra;
  Reorder to_in0, to_in1, from_out;
};

Step make_step(const dnnl::primitive& primitive, const dnnl::primitive_desc_base& pd, const Port& in0,
               const Port& in1, const Port& out, int extra_id, const Desc& extra, bool accumulate_out) {
  return Step{primitive,
              pd.scratchpad_desc().get_size(),
              in0.id,
              in1.id,
              out.id,
              extra_id,
              in0.own,
              in1.own,
              out.own,
              extra,
              make_reorder(in0.plain, in0.own),
              make_reorder(in1.plain, in1.own),
              make_reorder(out.own, out.plain, accumulate_out)};
}

// `plain` in the layout `own` a step wants: reordered into the thread's buffer `which` when the
// layouts differ, else used where it is.
const void* in_own_layout(const Reorder& to_own, const Desc& own, Buffer which, const void* plain) {
  if (!to_own.needed) return plain;
  void* copy = thread_buffer(which, own.get_size());
  run(to_own, plain, copy);
  return copy;
}

// Runs a step on inputs already in its own layouts; the output is written in place or reordered
// (or added) to the plain `out` afterwards.
void run_on_own(const Step& st, const void* in0, const void* in1, void* out, const void* extra, const char* what) {
  void* own_out = st.from_out.needed ? thread_buffer(kOut, st.out.get_size()) : out;
  const kernels::DnnlArg args[] = {
      {st.in0_id, &st.in0, in0}, {st.in1_id, &st.in1, in1}, {st.out_id, &st.out, own_out}, {st.extra_id, &st.extra, extra}};
  kernels::run_primitive(st.primitive, st.scratchpad_bytes, std::span(args, st.extra_id != 0 ? 4 : 3), what);
  if (st.from_out.needed) run(st.from_out, own_out, out);
}

// Runs a step on plain buffers.
void run_step(const Step& st, const void* in0, const void* in1, void* out, const void* extra, const char* what) {
  run_on_own(st, in_own_layout(st.to_in0, st.in0, kIn0, in0), in_own_layout(st.to_in1, st.in1, kIn1, in1), out, extra,
             what);
}

// The primitives of one shape, and the reorder that adds the bias gradient to the caller's.
struct Conv {
  Step forward, backward_data, backward_weights;
  Reorder add_db;
};

Conv make_conv(const Conv2dShape& s) {
  const Desc x({s.batch, s.in_channels, s.height, s.width}, kF32, Tag::nchw);
  const Desc w({s.out_channels, s.in_channels, s.kernel, s.kernel}, kF32, Tag::oihw);
  const Desc b({s.out_channels}, kF32, Tag::x);
  const Desc y({s.batch, s.out_channels, s.out_height(), s.out_width()}, kF32, Tag::nchw);
  const Desc x_any(x.dims(), kF32, Tag::any), w_any(w.dims(), kF32, Tag::any), y_any(y.dims(), kF32, Tag::any);
  const dnnl::memory::dims strides{s.stride, s.stride}, pad{s.padding, s.padding};
  const dnnl::primitive_attr attr = kernels::user_scratchpad_attr();
  dnnl::engine& engine = kernels::dnnl_engine();
  using dnnl::algorithm;
  Conv c;

  dnnl::convolution_forward::primitive_desc fwd(
      {dnnl::prop_kind::forward_training, algorithm::convolution_direct, x_any, w_any, b, y_any, strides, pad, pad},
      attr, engine);
  c.forward = make_step(dnnl::convolution_forward(fwd), fwd, {DNNL_ARG_SRC, fwd.src_desc(), x},
                        {DNNL_ARG_WEIGHTS, fwd.weights_desc(), w}, {DNNL_ARG_DST, fwd.dst_desc(), y}, DNNL_ARG_BIAS, b,
                        false);

  dnnl::convolution_backward_data::primitive_desc data(
      {algorithm::convolution_direct, x_any, w_any, y_any, strides, pad, pad}, attr, engine, fwd);
  c.backward_data = make_step(dnnl::convolution_backward_data(data), data, {DNNL_ARG_DIFF_DST, data.diff_dst_desc(), y},
                              {DNNL_ARG_WEIGHTS, data.weights_desc(), w}, {DNNL_ARG_DIFF_SRC, data.diff_src_desc(), x},
                              0, Desc(), false);

  dnnl::convolution_backward_weights::primitive_desc weights(
      {algorithm::convolution_direct, x_any, w_any, b, y_any, strides, pad, pad}, attr, engine, fwd);
  c.backward_weights = make_step(dnnl::convolution_backward_weights(weights), weights,
                                 {DNNL_ARG_SRC, weights.src_desc(), x}, {DNNL_ARG_DIFF_DST, weights.diff_dst_desc(), y},
                                 {DNNL_ARG_DIFF_WEIGHTS, weights.diff_weights_desc(), w}, DNNL_ARG_DIFF_BIAS, b,
                                 /*accumulate_out=*/true);
  c.add_db = make_reorder(b, b, /*accumulate=*/true);
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
  run_step(conv_for(s).forward, x, w, y, bias_or_zeros(s, b), "conv2d: oneDNN convolution forward failed");
}

void backward_f32(const Conv2dShape& s, const float* dy, const float* x, const float* w, float* dx, float* dw,
                  float* db) {
  const Conv& c = conv_for(s);
  const Step& data = c.backward_data;
  const Step& weights = c.backward_weights;
  // dy in the layout backward-data wants, reused by backward-weights when it wants the same one
  // (oneDNN's jit kernels usually do): dy is reordered once instead of twice.
  const void* dy_for_data = nullptr;
  if (dx) {
    dy_for_data = in_own_layout(data.to_in0, data.in0, kOutputGradient, dy);
    run_on_own(data, dy_for_data, in_own_layout(data.to_in1, data.in1, kIn1, w), dx, nullptr,
               "conv2d: oneDNN convolution backward (data) failed");
  }
  const void* dy_for_weights =
      dx && data.in0 == weights.in1 ? dy_for_data : in_own_layout(weights.to_in1, weights.in1, kIn1, dy);
  float* db_own = thread_buffer(kBiasGradient, static_cast<size_t>(s.out_channels) * sizeof(float));
  run_on_own(weights, in_own_layout(weights.to_in0, weights.in0, kIn0, x), dy_for_weights, dw, db_own,
             "conv2d: oneDNN convolution backward (weights) failed");
  if (db) run(c.add_db, db_own, db);
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
