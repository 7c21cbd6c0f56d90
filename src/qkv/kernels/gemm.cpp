#include "qkv/kernels/gemm.h"

#include <dnnl.hpp>

#include <array>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace qkv::kernels {
namespace {

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float>;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
  size_t scratchpad_bytes = 0;
};

// oneDNN matmul primitives, one per (transposes, shape, leading dims, alpha, beta). The
// scratchpad is the caller's (scratchpad_mode::user, one buffer per thread), so several threads
// may execute the same primitive at once (e.g. data-parallel training, one model per thread).
Matmul& matmul_for(const Key& key) {
  static std::mutex mutex;
  static std::map<Key, Matmul> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto [ta, tb, M, N, K, lda, ldb, ldc, alpha, beta] = key;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc a_md({M, K}, dt::f32, ta ? dnnl::memory::dims{1, lda} : dnnl::memory::dims{lda, 1});
  dnnl::memory::desc b_md({K, N}, dt::f32, tb ? dnnl::memory::dims{1, ldb} : dnnl::memory::dims{ldb, 1});
  dnnl::memory::desc c_md({M, N}, dt::f32, dnnl::memory::dims{ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
  return cache.emplace(key, Matmul{pd, dnnl::matmul(pd), pd.scratchpad_desc().get_size()}).first->second;
}

// A primitive bound on one thread to its memory objects and argument array, so that a call
// only swaps data handles (no oneDNN object is created per call).
struct Bound {
  const Matmul* mm = nullptr;
  dnnl::memory a, b, c, pad;
  std::array<dnnl_exec_arg_t, 4> args{};
};

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

Bound& bound_for(const Matmul& mm) {
  thread_local std::unordered_map<const Matmul*, Bound> bound;
  auto it = bound.find(&mm);
  if (it != bound.end()) return it->second;
  using dt = dnnl::memory::data_type;
  const dnnl::matmul::primitive_desc& pd = mm.pd;
  Bound bd;
  bd.mm = &mm;
  bd.a = dnnl::memory(pd.src_desc(), cpu_engine(), nullptr);
  bd.b = dnnl::memory(pd.weights_desc(), cpu_engine(), nullptr);
  bd.c = dnnl::memory(pd.dst_desc(), cpu_engine(), nullptr);
  bd.pad = dnnl::memory({{static_cast<int64_t>(mm.scratchpad_bytes)}, dt::u8, dnnl::memory::dims{1}}, cpu_engine(),
                        nullptr);
  bd.args = {dnnl_exec_arg_t{DNNL_ARG_SRC, bd.a.get()}, dnnl_exec_arg_t{DNNL_ARG_WEIGHTS, bd.b.get()},
             dnnl_exec_arg_t{DNNL_ARG_DST, bd.c.get()}, dnnl_exec_arg_t{DNNL_ARG_SCRATCHPAD, bd.pad.get()}};
  return bound.emplace(&mm, std::move(bd)).first->second;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  if (M * N * K < 4096) {
    gemm_reference<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  Key key{trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta};
  Bound& bound = bound_for(matmul_for(key));
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < bound.mm->scratchpad_bytes) scratch.resize(bound.mm->scratchpad_bytes);
  bound.a.set_data_handle(const_cast<float*>(A));
  bound.b.set_data_handle(const_cast<float*>(B));
  bound.c.set_data_handle(C);
  bound.pad.set_data_handle(scratch.empty() ? nullptr : scratch.data());
  // The C entry point with the bound argument array: the C++ execute() would build a map and a
  // vector of arguments on every call.
  dnnl::stream& stream = thread_stream();
  dnnl::error::wrap_c_api(dnnl_primitive_execute(bound.mm->primitive.get(), stream.get(),
                                                 static_cast<int>(bound.args.size()), bound.args.data()),
                          "gemm: oneDNN matmul execution failed");
  stream.wait();
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_reference<double>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace qkv::kernels
