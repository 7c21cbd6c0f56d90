// Internal to `qkv explain` (demos/explain.h): the four steps run_explain calls in order, and the
// formatting and matrix helpers they share. Each step prints its matrices to `out`, fills its
// part of the result and, when options.out_dir is set, writes its picture there.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "qkv/demos/explain.h"
#include "qkv/pictures/heatmap.h"

namespace qkv::demos::explain_steps {

inline constexpr const char* kWhere = "qkv explain";

// 1. S = XXᵀ, A = softmax(S), Y = AX, checked against sdpa(X, X, X, scale 1).   → explain_self.png
void self_attention(const ExplainOptions& o, std::ostream& out, ExplainResult& r);
// 2. Q, K, V projections, softmax with and without 1/√d_k, the saturation experiment.
//                                                         → explain_qkv.png, explain_scale.png
void projections_and_scale(const ExplainOptions& o, std::ostream& out, ExplainResult& r);
// The experiment of step 2: Var(q·k) and Var(q·k/√d) of unit-variance q, k for d = 4 … 1024, and
// the mean largest softmax weight of one query over 16 keys, from `samples` pairs per width.
std::vector<VarianceRow> measure_scale_saturation(uint64_t seed, int64_t samples);
// 3. The multi-head shape trace on the first two tokens, checked against nn::MultiheadAttention.
//                                                                         → explain_heads.png
void multihead(const ExplainOptions& o, std::ostream& out, ExplainResult& r);
// 4. Squeeze-and-excitation on a seeded feature map.                   → explain_channels.png
void channel_attention(const ExplainOptions& o, std::ostream& out, ExplainResult& r);

// Shared helpers (explain_format.cpp).
TensorF matmul(const TensorF& a, const TensorF& b, bool trans_b = false);  // A Bᵀ or A B, 2-D
TensorF softmax_rows(const TensorF& s);                                       // the masked_softmax op
TensorF scaled(const TensorF& s, float k);
double max_abs_diff(const TensorF& a, const TensorF& b);
int display_width(const std::string& s);  // CJK characters count 2
std::vector<std::string> numbered(const std::string& prefix, int64_t n);  // prefix0, prefix1, …
pictures::HeatmapPanel panel(const TensorF& m, const std::string& title, const std::vector<std::string>& rows,
                             const std::vector<std::string>& cols, const std::string& row_axis,
                             const std::string& col_axis);
// Writes the picture into options.out_dir (nothing without one) and records it in the result.
void save(ExplainResult& r, const ExplainOptions& o, std::ostream& out, const std::string& name,
          const pictures::Image& image);

}  // namespace qkv::demos::explain_steps
