// Data-parallel training across processes (MPI): the communicator the trainer sums gradients with.
//
// world() is the process's communicator. Launched by `mpirun -np R` (OpenMPI's
// OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX_RANK of other launchers) in a build with MPI
// (CMake option QKV_WITH_MPI, on when libopenmpi-dev is found), it is MPI_COMM_WORLD: rank r of
// R, MPI initialised on first use (MPI_THREAD_FUNNELED: only the main thread calls MPI) and
// finalised at exit, errors returned (MPI_ERRORS_RETURN) and thrown as qkv::Error naming the call.
// Otherwise it is a single process (rank 0 of 1) and every collective is a no-op; a build without
// MPI launched by mpirun with R > 1 is an error, since R copies would each train alone and write
// the same files.
//
// Failure: a rank that ends with an error calls end_job_after_error, which in a job of R > 1
// ranks prints the error and which rank failed and calls MPI_Abort, so mpirun ends every rank
// instead of leaving the others waiting in a collective; a rank that dies (a signal) makes mpirun
// end the job.
//
// Gradients: allreduce_gradients sums the gradients of the named parameters over the ranks,
// packed into one flat buffer and reduced in buckets of at most bucket_floats floats (one
// MPI_Allreduce each, in order), so the result is deterministic for a fixed R.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qkv/nn/parameter.h"

namespace qkv::train {

class Communicator {
 public:
  // A single process: rank 0 of 1.
  Communicator() = default;
  ~Communicator();  // finalises MPI if this is the MPI world
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool primary() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // In place: data[i] ← Σ over the ranks of data[i], on every rank.
  void allreduce_sum(float* data, int64_t n);
  void allreduce_sum(double* data, int64_t n);
  // data on every rank ← data on `root`.
  void broadcast(float* data, int64_t n, int root = 0);
  void broadcast(int64_t* data, int64_t n, int root = 0);
  void barrier();

  // Wall seconds spent in allreduce_sum(float*) since the start (waiting for slower ranks included).
  double allreduce_seconds() const { return allreduce_seconds_; }

 private:
  friend Communicator& world();
  explicit Communicator(bool launched_by_mpirun);
  enum class Op { allreduce, broadcast };
  template <typename T>
  void pieces(T* data, int64_t n, Op op, int root);  // op on data[0, n) in pieces of at most INT_MAX

  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
  double allreduce_seconds_ = 0;
};

// The process's communicator (see the top of this file).
Communicator& world();

// True when this build has the MPI backend.
bool mpi_available();

// After an error on this rank: prints message (one line) to stderr and returns code; in a job of
// R > 1 ranks it ends every rank instead (MPI_Abort(code), does not return). Rank 0 prints and
// aborts at once; another rank first waits kDuplicateErrorWait, so an error every rank meets (bad
// options, missing data) is printed once, by rank 0, and one that is its own is printed with
// "rank r of R: " before it aborts.
int end_job_after_error(const std::string& message, int code);
inline constexpr double kDuplicateErrorWait = 2.0;  // seconds

// Sums the parameters' gradients over comm's ranks (see the top of this file); buffer is scratch
// (resized to the total gradient size). Returns the number of buckets.
inline constexpr int64_t kDefaultBucketFloats = int64_t{1} << 20;  // 4 MB
int allreduce_gradients(Communicator& comm, const nn::NamedParameters<float>& params, std::vector<float>& buffer,
                        int64_t bucket_floats = kDefaultBucketFloats);

// Copies rank 0's parameter values to every rank.
void broadcast_parameters(Communicator& comm, const nn::NamedParameters<float>& params);

// Median wall seconds of `reps` allreduce_sum calls on n floats (a barrier before each), for
// `qkv bench allreduce` and the scaling estimate in the README.
double time_allreduce(Communicator& comm, int64_t n, int reps);

}  // namespace qkv::train
