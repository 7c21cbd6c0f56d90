#include "qkv/train/data_parallel.h"

#include <cstring>

#include "qkv/kernels/add_inplace.h"

namespace qkv::train {

void ReplicaParameters::sync() const {
  for (size_t w = 1; w < params_.size(); ++w)
    for (size_t i = 0; i < params_[0].size(); ++i) {
      const TensorF& src = params_[0][i].second->value;
      std::memcpy(params_[w][i].second->value.data(), src.data(), sizeof(float) * static_cast<size_t>(src.numel()));
    }
}

void ReplicaParameters::zero_grad(int w) const {
  for (auto& [name, p] : params_[static_cast<size_t>(w)])
    std::memset(p->grad.data(), 0, sizeof(float) * static_cast<size_t>(p->grad.numel()));
}

void ReplicaParameters::sum_gradients(int W) const {
  for (int w = 1; w < W; ++w)
    for (size_t i = 0; i < params_[0].size(); ++i) {
      nn::Parameter<float>* dst = params_[0][i].second;
      kernels::add_inplace(dst->grad.data(), params_[static_cast<size_t>(w)][i].second->grad.data(), dst->grad.numel());
    }
}

StepStats total_of(const std::vector<ShardStats>& shards, int W, Communicator& comm) {
  double sums[3] = {0, 0, 0};  // loss, correct, count: counts are exact in a double up to 2^53
  for (int w = 0; w < W; ++w) {
    const ShardStats& s = shards[static_cast<size_t>(w)];
    sums[0] += s.loss;
    sums[1] += static_cast<double>(s.correct);
    sums[2] += static_cast<double>(s.count);
  }
  comm.allreduce_sum(sums, 3);
  StepStats total;
  total.correct = static_cast<int64_t>(sums[1]);
  total.count = static_cast<int64_t>(sums[2]);
  total.loss = sums[0] / sums[2];
  return total;
}

std::pair<int64_t, int64_t> rank_rows(const Communicator& comm, int64_t n) {
  const int64_t R = comm.size(), r = comm.rank();
  QKV_CHECK(n >= R && n % R == 0, "data-parallel step: the global batch of ", n, " rows is ",
            n < R ? "smaller than" : "not a multiple of", " the ", R,
            " MPI ranks (mpirun -np); every rank takes an equal share: use a batch that is a multiple of ", R);
  return {n * r / R, n * (r + 1) / R};
}

}  // namespace qkv::train
