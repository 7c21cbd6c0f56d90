#include "qkv/train/vit_parallel.h"

#include <cstring>

#include "qkv/core/parallel.h"
#include "qkv/kernels/add_inplace.h"
#include "qkv/train/cross_entropy.h"

namespace qkv::train {

VitDataParallel::VitDataParallel(const models::VitConfig& config, uint64_t seed, int replicas) {
  const int W = replicas > 0 ? replicas : num_threads();
  for (int w = 0; w < W; ++w) {
    replicas_.push_back(std::make_unique<models::Vit<float>>(config, seed));
    params_.push_back(replicas_.back()->named_parameters());
  }
  dlogits_.resize(static_cast<size_t>(W));
  stats_.resize(static_cast<size_t>(W));
  sync();
}

void VitDataParallel::sync() {
  for (size_t w = 1; w < replicas_.size(); ++w)
    for (size_t i = 0; i < params_[0].size(); ++i) {
      const TensorF& src = params_[0][i].second->value;
      std::memcpy(params_[w][i].second->value.data(), src.data(), sizeof(float) * static_cast<size_t>(src.numel()));
    }
}

ShardStats VitDataParallel::forward_backward(const TensorF& images, const int64_t* labels, uint64_t seed,
                                             double label_smoothing) {
  check_rank("VitDataParallel.forward_backward", "images", images, 4);
  const int64_t B = images.dim(0);
  const int W = static_cast<int>(std::min<int64_t>(replicas(), B));
  const int64_t C = replicas_[0]->config().classes;
  const TensorF x = images.contiguous();
  parallel_workers(W, [&](int w, int nw) {
    const int64_t r0 = B * w / nw, r1 = B * (w + 1) / nw, n = r1 - r0;
    models::Vit<float>& m = *replicas_[static_cast<size_t>(w)];
    const TensorF& logits = m.forward(x.slice(0, r0, r1), true, seed * 64 + static_cast<uint64_t>(w));
    TensorF& dl = ensure_shape(dlogits_[static_cast<size_t>(w)], {n, C});
    auto ce = cross_entropy<float>(logits.data(), labels + r0, n, C, dl.data(), -100, label_smoothing);
    // cross_entropy averages over the shard; the batch mean weighs each shard by n / B.
    const float scale = static_cast<float>(n) / static_cast<float>(B);
    for (int64_t i = 0; i < n * C; ++i) dl[i] *= scale;
    stats_[static_cast<size_t>(w)] = {ce.loss * static_cast<double>(n), ce.correct};
    for (auto& [name, p] : params_[static_cast<size_t>(w)]) std::memset(p->grad.data(), 0, sizeof(float) * static_cast<size_t>(p->grad.numel()));
    m.backward(dl);
  });
  ShardStats total;
  for (int w = 0; w < W; ++w) {
    total.loss += stats_[static_cast<size_t>(w)].loss;
    total.correct += stats_[static_cast<size_t>(w)].correct;
    if (w == 0) continue;
    for (size_t i = 0; i < params_[0].size(); ++i) {
      nn::Parameter<float>* dst = params_[0][i].second;
      kernels::add_inplace(dst->grad.data(), params_[static_cast<size_t>(w)][i].second->grad.data(), dst->grad.numel());
    }
  }
  total.loss /= static_cast<double>(B);
  return total;
}

void VitDataParallel::predict(const TensorF& images, float* logits) {
  check_rank("VitDataParallel.predict", "images", images, 4);
  const int64_t B = images.dim(0);
  const int W = static_cast<int>(std::min<int64_t>(replicas(), B));
  const int64_t C = replicas_[0]->config().classes;
  const TensorF x = images.contiguous();
  parallel_workers(W, [&](int w, int nw) {
    const int64_t r0 = B * w / nw, r1 = B * (w + 1) / nw;
    const TensorF& out = replicas_[static_cast<size_t>(w)]->forward(x.slice(0, r0, r1), false);
    std::memcpy(logits + r0 * C, out.data(), sizeof(float) * static_cast<size_t>((r1 - r0) * C));
  });
}

}  // namespace qkv::train
