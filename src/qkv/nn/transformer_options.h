// The options of PyTorch 1.13's nn.Transformer, shared by its layers and stacks.
//
// Glossary: B batch, S source length, T target length, E = d_model, H = nhead, F = dim_feedforward.
#pragma once

#include <cstdint>
#include <string>

#include "qkv/core/error.h"

namespace qkv::nn {

enum class Activation { relu, gelu };

struct TransformerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t num_encoder_layers = 6;
  int64_t num_decoder_layers = 6;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  Activation activation = Activation::relu;
  double layer_norm_eps = 1e-5;
  bool batch_first = false;  // (B, L, E) when true, (L, B, E) when false
  bool norm_first = false;   // pre-norm when true, post-norm (the paper's) when false

  // Throws qkv::Error naming the bad field with its value.
  void validate() const {
    QKV_CHECK(d_model > 0, "Transformer: d_model must be positive, got ", d_model);
    QKV_CHECK(nhead > 0 && d_model % nhead == 0, "Transformer: nhead must be positive and divide d_model (",
              d_model, "), got ", nhead);
    QKV_CHECK(num_encoder_layers >= 0, "Transformer: num_encoder_layers must be >= 0, got ", num_encoder_layers);
    QKV_CHECK(num_decoder_layers >= 0, "Transformer: num_decoder_layers must be >= 0, got ", num_decoder_layers);
    QKV_CHECK(dim_feedforward > 0, "Transformer: dim_feedforward must be positive, got ", dim_feedforward);
    QKV_CHECK(dropout >= 0.0 && dropout < 1.0, "Transformer: dropout must be in [0, 1), got ", dropout);
    QKV_CHECK(layer_norm_eps > 0.0, "Transformer: layer_norm_eps must be positive, got ", layer_norm_eps);
  }
};

// "relu" or "gelu" (torch's names); anything else throws naming the argument.
inline Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  fail("Transformer: argument 'activation' is '", name, "'; expected 'relu' or 'gelu'");
}

}  // namespace qkv::nn
