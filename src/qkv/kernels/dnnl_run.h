// oneDNN's CPU engine and one way to run a cached primitive, shared by the matrix products
// (gemm.cpp) and the convolution (ops/conv2d/conv2d.cpp).
//
// Primitives are created once per shape, with scratchpad_mode::user, and kept for the process.
// run_primitive binds a primitive, on each thread the first time that thread runs it, to memory
// objects without data; later calls only set their data handles and pass the thread's own
// scratchpad. So no oneDNN object is created per call, and several threads may run the same
// primitive at once (data-parallel replicas, one model per thread).
#pragma once

#include <dnnl.hpp>

#include <initializer_list>
#include <span>

namespace qkv::kernels {

dnnl::engine& dnnl_engine();

// The threads a primitive runs with when called now: 1 inside a parallel region (nested regions
// run serially), else OpenMP's count (qkv's set_num_threads sets it). oneDNN's jit kernels split
// their work for the count seen at creation and must run with that count (its convolution's
// backward waits on a barrier for every thread it planned), so a cache of primitives keys on it
// and creates them inside a CreationThreads scope.
int dnnl_threads();

// While alive, primitives are created for dnnl_threads() threads. oneDNN reads
// omp_get_max_threads() at creation, which inside a parallel region still answers OpenMP's full
// count although the region's nested calls run on one thread; this scope sets the calling
// thread's count to 1 there and restores it on exit.
class CreationThreads {
 public:
  CreationThreads();
  ~CreationThreads();
  CreationThreads(const CreationThreads&) = delete;
  CreationThreads& operator=(const CreationThreads&) = delete;

 private:
  int saved_ = 0;
};

// An attribute with the caller's scratchpad (scratchpad_mode::user).
dnnl::primitive_attr user_scratchpad_attr();

// One argument of a call: its oneDNN id, its memory descriptor (read on a thread's first call
// only) and its data.
struct DnnlArg {
  int id;
  const dnnl::memory::desc* desc;
  const void* data;
};

// Runs `primitive` on the calling thread's stream and waits. `args` must list the same ids with
// the same descriptors, in the same order, on every call of the same primitive; the scratchpad
// (scratchpad_bytes, from the primitive descriptor) is the calling thread's. `what` names the
// call in the error thrown if oneDNN fails.
void run_primitive(const dnnl::primitive& primitive, size_t scratchpad_bytes, std::span<const DnnlArg> args,
                   const char* what);
inline void run_primitive(const dnnl::primitive& primitive, size_t scratchpad_bytes,
                          std::initializer_list<DnnlArg> args, const char* what) {
  run_primitive(primitive, scratchpad_bytes, std::span<const DnnlArg>(args.begin(), args.size()), what);
}

}  // namespace qkv::kernels
