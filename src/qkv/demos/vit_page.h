// The interactive page of `qkv attention-map CHECKPOINT --html FILE` (template: explorer/vit.js):
// the image with its patch grid; hover a patch (or the class token) to see where it attends in
// any block and head, or its attention rollout; a model view of every block × head.
//
// Data: the grayscale image (S × S), the patch grid, every block's per-head weights
// (block, head, query, key) over the L = 1 + G² tokens, where the last block holds only the
// class token's row (the model computes no other, models/vit.h); qkv's class-token maps of the
// last block and rollout (models/vit_attention.h) and the class probabilities.
#pragma once

#include <string>

#include "qkv/demos/vit_input.h"
#include "qkv/models/vit.h"

namespace qkv::demos {

// input: S × S, one channel, as the model expects (demos/vit_input.h); its truth may be empty.
std::string vit_page_json(models::Vit<float>& model, const VitInput& input);
std::string vit_page_html(models::Vit<float>& model, const VitInput& input);

}  // namespace qkv::demos
