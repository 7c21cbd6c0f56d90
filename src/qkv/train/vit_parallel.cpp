#include "qkv/train/vit_parallel.h"

#include <cstring>

#include "qkv/train/cross_entropy.h"

namespace qkv::train {

VitDataParallel::VitDataParallel(const models::VitConfig& config, uint64_t seed, int replicas)
    : dp_(replicas, [&](int) { return std::make_unique<models::Vit<float>>(config, seed); }) {
  dlogits_.resize(static_cast<size_t>(dp_.replicas()));
}

template <typename Loss>
StepStats VitDataParallel::step(const TensorF& images, uint64_t seed, Loss&& loss) {
  check_rank("VitDataParallel.forward_backward", "images", images, 4);
  const int64_t B = images.dim(0);
  const int64_t C = model().config().classes;
  const TensorF x = images.contiguous();
  return dp_.forward_backward(B, [&](models::Vit<float>& m, int w, int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0;
    const uint64_t dropout_seed = seed * 64 + static_cast<uint64_t>(dp_.global_worker(w));
    const TensorF& logits = m.forward(x.slice(0, r0, r1), true, dropout_seed);
    TensorF& dl = ensure_shape(dlogits_[static_cast<size_t>(w)], {n, C});
    const CrossEntropyResult ce = loss(logits.data(), r0, n, dl.data());
    // cross_entropy averages over the shard; the batch mean weighs each shard by n / B.
    const float scale = static_cast<float>(n) / static_cast<float>(B);
    for (int64_t i = 0; i < n * C; ++i) dl[i] *= scale;
    m.backward(dl);
    return ShardStats{ce.loss * static_cast<double>(n), ce.correct, n};
  });
}

StepStats VitDataParallel::forward_backward(const TensorF& images, const int64_t* labels, uint64_t seed,
                                            double label_smoothing) {
  const int64_t C = model().config().classes;
  return step(images, seed, [&](const float* logits, int64_t r0, int64_t n, float* dl) {
    return cross_entropy<float>(logits, labels + r0, n, C, dl, -100, label_smoothing);
  });
}

StepStats VitDataParallel::forward_backward(const TensorF& images, const float* targets, uint64_t seed) {
  const int64_t C = model().config().classes;
  return step(images, seed, [&](const float* logits, int64_t r0, int64_t n, float* dl) {
    return soft_cross_entropy<float>(logits, targets + r0 * C, n, C, dl);
  });
}

void VitDataParallel::predict(const TensorF& images, float* logits) {
  check_rank("VitDataParallel.predict", "images", images, 4);
  const int64_t B = images.dim(0);
  const int64_t C = model().config().classes;
  const TensorF x = images.contiguous();
  dp_.for_each_shard(B, [&](models::Vit<float>& m, int, int64_t r0, int64_t r1) {
    const TensorF& out = m.forward(x.slice(0, r0, r1), false);
    std::memcpy(logits + r0 * C, out.data(), sizeof(float) * static_cast<size_t>((r1 - r0) * C));
  });
}

}  // namespace qkv::train
