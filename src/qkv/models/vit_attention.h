// Where a ViT looks: the class token's attention over the patches for one image.
//
//   heads[h]  (G·G,) last block, head h: weights of the class-token query over the patch keys
//             (the class token's weight on itself is left out), row-major over the patch grid
//   rollout   (G·G,) attention rollout (Abnar & Zuidema 2020): per block, average the heads,
//             add the identity for the residual path and renormalise rows, A = (W̄ + I)/2;
//             multiply the blocks' matrices from the first to the last, R = A_depth ··· A_1,
//             and keep R's class-token row over the patches
//   Without a class token (pool "mean") the readout is the mean of the tokens, so "the class
//   token's row" reads "the mean of the rows" in both (the same formulas with the row averaged).
//   probs     (classes,) softmax of the logits (models/vit_predict.h)
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "qkv/models/vit.h"

namespace qkv::models {

struct VitAttentionMaps {
  int64_t grid = 0;
  std::string readout = "class-token";  // whose attention: "class-token", or "mean-pooled" (pool "mean")
  std::vector<std::vector<float>> heads;
  std::vector<float> rollout;
  std::vector<float> probs;
  // The predicted class: the first index of the largest probability (-1 when probs is empty).
  int64_t best_class() const {
    if (probs.empty()) return -1;
    return std::max_element(probs.begin(), probs.end()) - probs.begin();
  }
};

// image: (C, S, S) normalised pixels (see data::normalize_pixels). Runs a batch-1 forward with the
// attention weights kept (the model's buffers are resized to batch 1).
VitAttentionMaps vit_attention_maps(Vit<float>& model, const float* image);

}  // namespace qkv::models
