// The ViT on train::DataParallel (train/data_parallel.h): one replica per thread, a mini-batch of
// B images split into contiguous shards, each shard's forward, cross-entropy and backward on its
// replica with serial kernels, the gradients summed into replica 0 in replica order.
// Replica 0 is the model the optimizer updates; call sync() after every change to its
// parameters (optimizer step, loading weights).
//
// Per shard of n rows: cross_entropy gives the shard's mean loss and its gradient dlogits;
// dlogits is scaled by n / B so the summed gradient is that of the batch-mean loss.
// Across MPI ranks (train/data_parallel.h): B is the global batch; only this rank's rows
// (rank_rows(B)) of images and labels are read. Dropout seed of global worker g: seed·64 + g.
#pragma once

#include "qkv/models/vit.h"
#include "qkv/train/data_parallel.h"

namespace qkv::train {

class VitDataParallel {
 public:
  VitDataParallel(const models::VitConfig& config, uint64_t seed, int replicas = 0);  // 0: num_threads()

  models::Vit<float>& model() { return dp_.model(); }
  int replicas() const { return dp_.replicas(); }
  void sync() { dp_.sync(); }
  Communicator& comm() { return dp_.comm(); }
  std::pair<int64_t, int64_t> rank_rows(int64_t B) const { return dp_.rank_rows(B); }

  // images (B, C, S, S), labels[B]. Leaves in replica 0's gradients the gradient of the
  // batch-mean loss (they are zeroed first). seed: dropout seed of this step.
  StepStats forward_backward(const TensorF& images, const int64_t* labels, uint64_t seed,
                             double label_smoothing = 0.0);
  // Same with probability targets (B, C) row-major (mixup / cutmix; train/cross_entropy.h:
  // soft_cross_entropy, whose `correct` is the arg-max of the target).
  StepStats forward_backward(const TensorF& images, const float* targets, uint64_t seed);
  // Inference: logits (B, classes) written to `logits`.
  void predict(const TensorF& images, float* logits);

 private:
  // loss(logits, r0, n, dlogits) → CrossEntropyResult of rows [r0, r0 + n).
  template <typename Loss>
  StepStats step(const TensorF& images, uint64_t seed, Loss&& loss);

  DataParallel<models::Vit<float>> dp_;
  std::vector<TensorF> dlogits_;
};

}  // namespace qkv::train
