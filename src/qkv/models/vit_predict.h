// What a trained ViT says about one image: its class probabilities, most likely first.
//
//   image: (C, S, S) normalised pixels (see data::normalize_pixels)   logits: (1, classes)
//   probs: (classes,) = softmax(logits), through the masked_softmax op (no mask)
//   ranking: the class indices ordered by falling probability (ties: lower index first)
#pragma once

#include <vector>

#include "qkv/models/vit.h"

namespace qkv::models {

struct VitPrediction {
  std::vector<float> probs;
  std::vector<int64_t> ranking;
  int64_t best() const { return ranking.empty() ? -1 : ranking.front(); }
};

// Runs a batch-1 forward in eval mode (the model's buffers are resized to batch 1).
VitPrediction vit_predict(Vit<float>& model, const float* image);
VitPrediction prediction_from_logits(const TensorF& logits);

}  // namespace qkv::models
