// CLI options shared by the ViT commands (train, bench vit): the model's hyper-parameters.
#pragma once

#include <CLI/CLI.hpp>

#include "qkv/models/vit.h"

namespace qkv::cli {

inline void add_vit_model_options(CLI::App& app, models::VitConfig& c) {
  app.add_option("--patch", c.patch, "Patch side p (image side must be a multiple)")->capture_default_str();
  app.add_option("--dim", c.dim, "Model width E")->capture_default_str();
  app.add_option("--depth", c.depth, "Number of encoder blocks")->capture_default_str();
  app.add_option("--heads", c.heads, "Attention heads (must divide --dim)")->capture_default_str();
  app.add_option("--mlp-hidden", c.mlp_hidden, "MLP hidden width (E × MLP ratio)")->capture_default_str();
  app.add_option("--dropout", c.dropout, "MLP dropout in training")->capture_default_str();
  app.add_option("--attn-dropout", c.attn_dropout, "Dropout on attention weights in training")->capture_default_str();
}

}  // namespace qkv::cli
