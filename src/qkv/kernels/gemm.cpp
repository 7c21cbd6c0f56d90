#include "qkv/kernels/gemm.h"

#include <dnnl.hpp>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace qkv::kernels {
namespace {

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float>;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct Matmul {
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
  return cache.emplace(key, Matmul{dnnl::matmul(pd), pd.scratchpad_desc().get_size()}).first->second;
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
  Matmul& mm = matmul_for(key);
  using dt = dnnl::memory::data_type;
  auto& eng = cpu_engine();
  dnnl::memory a({{M, K}, dt::f32, trans_a ? dnnl::memory::dims{1, lda} : dnnl::memory::dims{lda, 1}}, eng,
                 const_cast<float*>(A));
  dnnl::memory b({{K, N}, dt::f32, trans_b ? dnnl::memory::dims{1, ldb} : dnnl::memory::dims{ldb, 1}}, eng,
                 const_cast<float*>(B));
  dnnl::memory c({{M, N}, dt::f32, dnnl::memory::dims{ldc, 1}}, eng, C);
  thread_local dnnl::stream stream(eng);
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < mm.scratchpad_bytes) scratch.resize(mm.scratchpad_bytes);
  dnnl::memory pad({{static_cast<int64_t>(mm.scratchpad_bytes)}, dt::u8, dnnl::memory::dims{1}}, eng,
                   scratch.empty() ? nullptr : scratch.data());
  mm.primitive.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}, {DNNL_ARG_SCRATCHPAD, pad}});
  stream.wait();
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_reference<double>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace qkv::kernels
