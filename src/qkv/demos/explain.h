// `qkv explain`: the attention mechanism step by step, with real numbers from qkv's own ops.
//
// Tokens (default 早 / 上 / 好) get small embeddings X (n × d): seeded N(0, 1), or read from a
// file. Then, printed as matrices and drawn as heatmaps with the tokens as tick labels:
//   1. self-attention without parameters: S = XXᵀ (dot-product similarity), A = softmax(S) row by
//      row (each row sums to 1), Y = AX; checked against scaled_dot_product_attention(X, X, X,
//      scale 1).                                                          → explain_self.png
//   2. learned-style projections Q = XW_q, K = XW_k, V = XW_v (d × d_k, seeded N(0, 1/d)) and the
//      1/√d_k scale: softmax(QKᵀ) vs softmax(QKᵀ/√d_k); then the measured variance of q·k for
//      unit-variance q, k of width d_k = 4 … 1024 (≈ d_k) and of q·k/√d_k (≈ 1), with the mean
//      largest softmax weight over 16 keys (near 1 = saturated).        → explain_qkv.png
//   3. multi-head attention, the classic shape trace: the first two tokens (2 × d input, d = 4 by
//      default), 8 heads of width 3 (head_dim = 3), each head's weights (2 × 2), concatenation
//      2 × 24, W_O 24 × d back to 2 × d; computed with the projections of nn::MultiheadAttention
//      and sdpa_forward per head, and checked against the module's own forward.
//                                                                        → explain_heads.png
//   4. channel attention: squeeze-and-excitation (nn/squeeze_excitation.h) on a seeded C × H × W
//      feature map: squeeze (mean over H×W), excitation σ(W₂ ReLU(W₁ s)), rescaled channels;
//      weights generated from the content itself.                        → explain_channels.png
//
// Embeddings file: one token per line, "token v1 v2 … vd" separated by spaces or tabs; '#'
// starts a comment. Without --tokens the file's tokens are used in order; with --tokens each
// token is looked up in the file.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/core/tensor.h"
#include "qkv/pictures/colormap.h"

namespace qkv::demos {

struct ExplainOptions {
  std::vector<std::string> tokens;  // empty: 早 上 好 (or the embeddings file's tokens)
  int64_t dim = 4;                  // embedding width d for seeded embeddings
  int64_t head_dim = 0;             // d_k of the Q/K/V projections of step 2 (0: d)
  uint64_t seed = 0;
  std::string embeddings_file;
  std::string out_dir;              // write the heatmaps here (empty: no files)
  int64_t heads = 8, mha_head_dim = 3;  // step 3
  int64_t channels = 8, reduction = 2, spatial = 4;  // step 4: C, r, H = W
  int64_t variance_samples = 4000;  // pairs per width in step 2
  pictures::Colormap colormap = pictures::Colormap::viridis;
};

// "the cat sat" → {"the", "cat", "sat"}; a string without spaces → its characters ("早上好").
std::vector<std::string> split_tokens(const std::string& text);

struct VarianceRow {
  int64_t d = 0;
  double var_raw = 0, var_scaled = 0;         // of q·k and of q·k/√d
  double max_weight_raw = 0, max_weight_scaled = 0;  // mean largest softmax weight over 16 keys
};

struct ExplainFile {
  std::string path;
  int width = 0, height = 0;
};

struct ExplainResult {
  std::vector<std::string> tokens;
  TensorF X;                              // (n, d)
  TensorF scores, weights, output;        // XXᵀ (n, n), softmax rows (n, n), AX (n, d)
  double sdpa_max_diff = 0;               // |AX − sdpa(X, X, X, scale 1)|
  TensorF Q, K, V;                        // (n, d_k)
  TensorF weights_unscaled, weights_scaled, output_scaled;  // (n, n), (n, n), (n, d_k)
  std::vector<VarianceRow> variance;
  TensorF mha_input, mha_head_weights, mha_concat, mha_output;  // (2, d), (8, 2, 2), (2, 24), (2, d)
  TensorF mha_w_o;                        // (24, d): W_O = out_proj.weightᵀ
  double mha_max_diff = 0;                // |trace − nn::MultiheadAttention.forward|
  TensorF se_squeeze, se_weights;         // (C,), (C,)
  std::vector<ExplainFile> files;
};

ExplainResult run_explain(const ExplainOptions& options, std::ostream& out);

// Prints a labelled matrix; widths account for double-width CJK characters.
void print_matrix(std::ostream& out, const std::string& title, const TensorF& m,
                  const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                  bool row_sums = false, int decimals = 3);

}  // namespace qkv::demos
