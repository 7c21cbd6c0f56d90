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

StepStats total_of(const std::vector<ShardStats>& shards, int W) {
  double loss = 0;
  StepStats total;
  for (int w = 0; w < W; ++w) {
    const ShardStats& s = shards[static_cast<size_t>(w)];
    loss += s.loss;
    total.correct += s.correct;
    total.count += s.count;
  }
  total.loss = loss / static_cast<double>(total.count);
  return total;
}

}  // namespace qkv::train
