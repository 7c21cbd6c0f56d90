#include "qkv/train/distributed.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>
#include <type_traits>

#include "qkv/core/error.h"

#ifndef QKV_WITH_MPI
#define QKV_WITH_MPI 0
#endif
#if QKV_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace qkv::train {
namespace {

using Clock = std::chrono::steady_clock;

Communicator* g_world = nullptr;  // set once world() has made it

// The size a launcher announced (0: not launched by one).
int launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) return std::max(1, std::atoi(v));
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

#if QKV_WITH_MPI
void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(call, " failed: ", std::string(text, static_cast<size_t>(len)),
       " (another rank may have ended; see its message)");
}

template <typename T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else return MPI_INT64_T;
}
#endif

}  // namespace

// MPI counts are int: large arrays go in pieces.
template <typename T>
void Communicator::pieces(T* data, int64_t n, Op op, int root) {
#if QKV_WITH_MPI
  for (int64_t at = 0; at < n; at += INT_MAX) {
    const int count = static_cast<int>(std::min<int64_t>(INT_MAX, n - at));
    if (op == Op::allreduce)
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + at, count, mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    else
      check_mpi(MPI_Bcast(data + at, count, mpi_type<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
  }
#else
  (void)data, (void)n, (void)op, (void)root;
#endif
}

Communicator::Communicator(bool launched_by_mpirun) {
  if (!launched_by_mpirun) return;
#if QKV_WITH_MPI
  int provided = 0;
  QKV_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
            "MPI_Init_thread failed (launched by mpirun: OMPI_COMM_WORLD_SIZE or PMI_SIZE is set)");
  mpi_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
  const int n = launched_size();
  QKV_CHECK(n <= 1, "launched by mpirun with ", n,
            " ranks, but this qkv was built without MPI (QKV_WITH_MPI=OFF: libopenmpi-dev was not found when "
            "configuring); install libopenmpi-dev and configure again, or run one process");
#endif
}

Communicator::~Communicator() {
#if QKV_WITH_MPI
  int finalized = 1;
  if (mpi_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
#endif
}

void Communicator::allreduce_sum(float* data, int64_t n) {
  if (!mpi_ || size_ == 1) return;
  const auto t0 = Clock::now();
  pieces(data, n, Op::allreduce, 0);
  allreduce_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void Communicator::allreduce_sum(double* data, int64_t n) {
  if (mpi_ && size_ > 1) pieces(data, n, Op::allreduce, 0);
}

void Communicator::broadcast(float* data, int64_t n, int root) {
  if (mpi_ && size_ > 1) pieces(data, n, Op::broadcast, root);
}

void Communicator::broadcast(int64_t* data, int64_t n, int root) {
  if (mpi_ && size_ > 1) pieces(data, n, Op::broadcast, root);
}

void Communicator::barrier() {
  if (!mpi_ || size_ == 1) return;
#if QKV_WITH_MPI
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

Communicator& world() {
  static Communicator w(launched_size() > 0);
  g_world = &w;
  return w;
}

bool mpi_available() { return QKV_WITH_MPI != 0; }

int end_job_after_error(const std::string& message, int code) {
  if (!g_world || !g_world->distributed()) {
    std::cerr << message << "\n";
    return code;
  }
  const std::string rank = "rank " + std::to_string(g_world->rank()) + " of " + std::to_string(g_world->size());
  if (!g_world->primary()) std::this_thread::sleep_for(std::chrono::duration<double>(kDuplicateErrorWait));
  // One write, so that mpirun forwards the message whole, before its own about the abort.
  std::cerr << (g_world->primary() ? "" : rank + ": ") + message + "\nqkv: " + rank +
                   " failed; ending every rank of the job\n"
            << std::flush;
#if QKV_WITH_MPI
  MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

int allreduce_gradients(Communicator& comm, const nn::NamedParameters<float>& params, std::vector<float>& buffer,
                        int64_t bucket_floats) {
  if (!comm.distributed()) return 0;
  QKV_CHECK(bucket_floats > 0, "allreduce_gradients: bucket_floats is ", bucket_floats, "; expected > 0");
  int64_t total = 0;
  for (auto& [name, p] : params) total += p->grad.numel();
  buffer.resize(static_cast<size_t>(total));
  int64_t at = 0;
  for (auto& [name, p] : params) {
    std::memcpy(buffer.data() + at, p->grad.data(), sizeof(float) * static_cast<size_t>(p->grad.numel()));
    at += p->grad.numel();
  }
  int buckets = 0;
  for (int64_t b = 0; b < total; b += bucket_floats, ++buckets)
    comm.allreduce_sum(buffer.data() + b, std::min(bucket_floats, total - b));
  at = 0;
  for (auto& [name, p] : params) {
    std::memcpy(p->grad.data(), buffer.data() + at, sizeof(float) * static_cast<size_t>(p->grad.numel()));
    at += p->grad.numel();
  }
  return buckets;
}

void broadcast_parameters(Communicator& comm, const nn::NamedParameters<float>& params) {
  for (auto& [name, p] : params) comm.broadcast(p->value.data(), p->value.numel());
}

double time_allreduce(Communicator& comm, int64_t n, int reps) {
  QKV_CHECK(n >= 1 && reps >= 1, "time_allreduce: n is ", n, " and reps is ", reps, "; expected >= 1 each");
  std::vector<float> data(static_cast<size_t>(n), 1.0f);
  std::vector<double> seconds;
  for (int r = 0; r < reps; ++r) {
    comm.barrier();
    const auto t0 = Clock::now();
    comm.allreduce_sum(data.data(), n);
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  // Every rank reports rank 0's median, so the figure printed does not depend on who prints.
  double median = seconds[seconds.size() / 2];
  int64_t bits = 0;
  std::memcpy(&bits, &median, sizeof bits);
  comm.broadcast(&bits, 1);
  std::memcpy(&median, &bits, sizeof bits);
  return median;
}

}  // namespace qkv::train
