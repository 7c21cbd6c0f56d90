// Data-parallel training on one machine, for any model: one replica per worker thread.
//
// A batch of n rows is split into W = min(replicas, n) contiguous shards (shard w = rows
// [n·w/W, n·(w+1)/W)); worker w zeroes its replica's gradients and runs the caller's shard
// function (forward, loss, backward) on its replica with serial kernels; then the replicas'
// gradients are summed into replica 0 in replica order (g₀ += g_w, w = 1..W−1). So one parallel
// region per step instead of one per operation, and results are bit-for-bit reproducible for a
// given thread count. Replica 0 is the model the optimizer updates; call sync() after every
// change to its parameters (optimizer step, loading weights) to copy them to the other replicas.
//
// The shard function returns ShardStats; the loss must be the shard's summed loss (its mean ×
// its counted rows) and its gradient the shard's share of the batch mean (scale the shard-mean
// gradient by the shard's rows / n), so the summed gradient is that of the batch-mean loss.
//
// Across processes (train/distributed.h, `mpirun -np R`): the batch of n rows is the global
// batch; rank r takes rows [n·r/R, n·(r+1)/R) (rank_rows; n must be a multiple of R) and splits
// them over its W threads as above, so global worker g = r·W + w has the rows worker g of one
// process with R·W threads would have. After the in-process sum, replica 0's gradients and the
// step's statistics are summed over the ranks (allreduce_gradients, in buckets), so every rank
// holds the gradient of the whole batch's mean loss; only the summation order differs from one
// process. The caller fills only this rank's rows of its batch.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "qkv/core/parallel.h"
#include "qkv/nn/parameter.h"
#include "qkv/train/distributed.h"

namespace qkv::train {

struct ShardStats {
  double loss = 0;      // summed loss over the counted rows (StepStats::mean_loss divides)
  int64_t correct = 0;  // arg-max hits
  int64_t count = 0;    // counted rows (targets)
};

// What a step over the whole batch gives: the shards' sums, in shard order.
struct StepStats {
  double loss = 0;  // mean over the counted rows
  int64_t correct = 0, count = 0;
};

// The parameters of every replica: copy replica 0's values to the others, zero one replica's
// gradients, sum the first W replicas' gradients into replica 0.
class ReplicaParameters {
 public:
  void add(nn::NamedParameters<float> params) { params_.push_back(std::move(params)); }
  const nn::NamedParameters<float>& of(int w) const { return params_[static_cast<size_t>(w)]; }
  void sync() const;
  void zero_grad(int w) const;
  void sum_gradients(int W) const;

 private:
  std::vector<nn::NamedParameters<float>> params_;
};

// Sums the shards' statistics in shard order, then over comm's ranks: loss / count is the batch mean.
StepStats total_of(const std::vector<ShardStats>& shards, int W, Communicator& comm);

// Rows [first, second) of a global batch of n rows that comm's rank takes; throws qkv::Error when
// n is not a positive multiple of the ranks.
std::pair<int64_t, int64_t> rank_rows(const Communicator& comm, int64_t n);

template <typename Model>
class DataParallel {
 public:
  // make(w) builds replica w (w = 0 first: the model the optimizer updates); replicas <= 0 means
  // qkv::num_threads(). The replicas start with replica 0's values.
  // comm: the ranks the batches are split over (default: the process's, train/distributed.h).
  DataParallel(int replicas, const std::function<std::unique_ptr<Model>(int w)>& make, Communicator& comm = world())
      : comm_(comm) {
    const int W = replicas > 0 ? replicas : num_threads();
    for (int w = 0; w < W; ++w) {
      models_.push_back(make(w));
      params_.add(models_.back()->named_parameters());
    }
    stats_.resize(static_cast<size_t>(W));
    sync();
  }

  Model& model() { return *models_[0]; }
  Model& replica(int w) { return *models_[static_cast<size_t>(w)]; }
  int replicas() const { return static_cast<int>(models_.size()); }
  std::vector<Model*> all() const {
    std::vector<Model*> out;
    for (auto& m : models_) out.push_back(m.get());
    return out;
  }
  void sync() { params_.sync(); }
  Communicator& comm() { return comm_; }
  // This rank's rows of a global batch of n rows.
  std::pair<int64_t, int64_t> rank_rows(int64_t n) const { return train::rank_rows(comm_, n); }
  // Worker w of this rank's last forward_backward among every rank's workers (dropout seeds).
  int global_worker(int w) const { return first_worker_ + w; }

  // shard(Model& replica, int w, int64_t r0, int64_t r1) → ShardStats, on rows [r0, r1) of the
  // global batch of n rows (w: this rank's worker). Leaves in replica 0 the sum of every shard's
  // gradients over the ranks; returns the batch's statistics.
  template <typename Shard>
  StepStats forward_backward(int64_t n, Shard&& shard) {
    const auto [lo, hi] = rank_rows(n);
    const int W = static_cast<int>(std::min<int64_t>(replicas(), hi - lo));
    first_worker_ = comm_.rank() * W;
    parallel_workers(W, [&](int w, int nw) {
      const int64_t r0 = lo + (hi - lo) * w / nw, r1 = lo + (hi - lo) * (w + 1) / nw;
      params_.zero_grad(w);
      stats_[static_cast<size_t>(w)] = shard(replica(w), w, r0, r1);
    });
    params_.sum_gradients(W);
    allreduce_gradients(comm_, params_.of(0), buffer_);
    return total_of(stats_, W, comm_);
  }

  // run(Model& replica, int w, int64_t r0, int64_t r1) on rows [r0, r1) of n (inference).
  template <typename Run>
  void for_each_shard(int64_t n, Run&& run) {
    const int W = static_cast<int>(std::min<int64_t>(replicas(), n));
    parallel_workers(W, [&](int w, int nw) { run(replica(w), w, n * w / nw, n * (w + 1) / nw); });
  }

 private:
  Communicator& comm_;
  std::vector<std::unique_ptr<Model>> models_;
  ReplicaParameters params_;
  std::vector<ShardStats> stats_;
  std::vector<float> buffer_;  // the gradients packed for the allreduce
  int first_worker_ = 0;
};

}  // namespace qkv::train
