// Data-parallel ViT training step on one machine: one model replica per thread.
//
// A mini-batch of B images is split into W contiguous shards (W = qkv::num_threads(), shard w =
// rows [B·w/W, B·(w+1)/W)); each thread runs forward, cross-entropy and backward of its shard on
// its own replica with serial kernels, then the replicas' gradients are summed into replica 0
// in replica order. So one parallel region per step instead of one per operation (small ViT
// layers are too small to split well), and results are bit-for-bit reproducible for a given
// thread count. Replica 0 is the model the optimizer updates; call sync() after every change
// to its parameters (optimizer step, loading weights) to copy them to the other replicas.
#pragma once

#include <memory>
#include <vector>

#include "qkv/models/vit.h"

namespace qkv::train {

struct ShardStats {
  double loss = 0;      // mean cross-entropy over the batch
  int64_t correct = 0;  // arg-max hits over the batch
};

class VitDataParallel {
 public:
  VitDataParallel(const models::VitConfig& config, uint64_t seed, int replicas = 0);  // 0: num_threads()

  models::Vit<float>& model() { return *replicas_[0]; }
  int replicas() const { return static_cast<int>(replicas_.size()); }
  void sync();

  // images (B, C, S, S), labels[B]. Zeroes replica 0's gradients, then leaves there the gradient of
  // the batch-mean loss. seed: dropout seed of this step.
  ShardStats forward_backward(const TensorF& images, const int64_t* labels, uint64_t seed,
                              double label_smoothing = 0.0);
  // Inference: logits (B, classes) written to `logits`.
  void predict(const TensorF& images, float* logits);

 private:
  std::vector<std::unique_ptr<models::Vit<float>>> replicas_;
  std::vector<nn::NamedParameters<float>> params_;
  std::vector<TensorF> dlogits_;
  std::vector<ShardStats> stats_;
};

}  // namespace qkv::train
