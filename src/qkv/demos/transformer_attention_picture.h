// The picture of `qkv transformer attention`: every attention of a trained Transformer on one
// input and its greedy output, one heatmap per layer × head, labelled with the tokens:
//   row 1  encoder self-attention, layer by layer (source × source)
//   row 2  decoder causal self-attention (output × output, <bos> first)
//   row 3  cross-attention (output × source)
// The weights come from one teacher-forced forward of (input, <bos> + output) with need_weights;
// each panel is one head, each row of panels one kind, columns the layers. cross_only: row 3
// alone, its layers one under another (where each output token looks in the input, as the GRU
// translator's alignment picture).
#pragma once

#include <string>

#include "qkv/demos/transformer_tasks.h"
#include "qkv/pictures/image.h"

namespace qkv::demos {

pictures::Image render_transformer_attention(TransformerTranslator& translator, const std::string& input,
                                             bool cross_only = false);

}  // namespace qkv::demos
