// Evaluation of a ViT on an image-classification dataset (Fashion-MNIST): accuracy, mean
// cross-entropy and the confusion matrix, in batches of normalised pixels
// (data::normalized_images). The last batch is padded with zeros, so the model's buffers keep
// one shape; only its real rows count.
// tta_flip (test-time augmentation): the logits of each image are the mean of the logits of the
// image and of its left-right mirror, (f(x) + f(flip(x)))/2 — logits, not probabilities, are
// averaged; accuracy, loss and confusion come from the averaged logits.
#pragma once

#include <cstdint>
#include <vector>

#include "qkv/data/idx.h"
#include "qkv/models/vit.h"
#include "qkv/train/vit_parallel.h"

namespace qkv::train {

struct EvalResult {
  double accuracy = 0, loss = 0;
  int64_t count = 0;
  std::vector<int64_t> confusion;  // classes × classes, row = true class, column = prediction
};

// Over the whole dataset, in batches of `batch`.
EvalResult evaluate(models::Vit<float>& model, const data::ImageDataset& ds, int64_t batch, bool tta_flip = false);
// Same with each batch split over the replicas' threads.
EvalResult evaluate(VitDataParallel& dp, const data::ImageDataset& ds, int64_t batch, bool tta_flip = false);

// images (n, C, S, S) → out (n, C, S, S) mirrored left-right (column x ↔ S−1−x).
void flip_images(const TensorF& images, TensorF& out);

}  // namespace qkv::train
