#include "qkv/kernels/dnnl_run.h"

#include <omp.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace qkv::kernels {
namespace {

// A primitive bound on one thread to its memory objects and argument array; the last argument is
// the scratchpad.
struct Bound {
  std::vector<dnnl::memory> memory;
  std::vector<dnnl_exec_arg_t> args;
};

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

Bound bind(size_t scratchpad_bytes, std::span<const DnnlArg> args) {
  Bound b;
  b.memory.reserve(args.size() + 1);
  for (const DnnlArg& a : args) {
    b.memory.emplace_back(*a.desc, dnnl_engine(), nullptr);
    b.args.push_back(dnnl_exec_arg_t{a.id, b.memory.back().get()});
  }
  const dnnl::memory::desc pad({static_cast<int64_t>(scratchpad_bytes)}, dnnl::memory::data_type::u8,
                               dnnl::memory::dims{1});
  b.memory.emplace_back(pad, dnnl_engine(), nullptr);
  b.args.push_back(dnnl_exec_arg_t{DNNL_ARG_SCRATCHPAD, b.memory.back().get()});
  return b;
}

}  // namespace

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

int dnnl_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

CreationThreads::CreationThreads() : saved_(omp_get_max_threads()) {
  if (omp_in_parallel()) omp_set_num_threads(1);
}

CreationThreads::~CreationThreads() { omp_set_num_threads(saved_); }

dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void run_primitive(const dnnl::primitive& primitive, size_t scratchpad_bytes, std::span<const DnnlArg> args,
                   const char* what) {
  thread_local std::unordered_map<dnnl_primitive_t, Bound> bound;
  thread_local std::vector<uint8_t> scratchpad;
  auto it = bound.find(primitive.get());
  if (it == bound.end()) it = bound.emplace(primitive.get(), bind(scratchpad_bytes, args)).first;
  Bound& b = it->second;
  size_t i = 0;
  for (const DnnlArg& a : args) b.memory[i++].set_data_handle(const_cast<void*>(a.data));
  if (scratchpad.size() < scratchpad_bytes) scratchpad.resize(scratchpad_bytes);
  b.memory.back().set_data_handle(scratchpad.empty() ? nullptr : scratchpad.data());
  // The C entry point with the bound argument array: the C++ execute() would build a map and a
  // vector of arguments on every call.
  dnnl::stream& stream = thread_stream();
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(primitive.get(), stream.get(), static_cast<int>(b.args.size()), b.args.data()), what);
  stream.wait();
}

}  // namespace qkv::kernels
