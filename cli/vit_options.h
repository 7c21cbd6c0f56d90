// CLI options shared by the ViT commands (train, bench vit): the model's hyper-parameters.
#pragma once

#include <CLI/CLI.hpp>

#include "qkv/models/vit.h"
#include "validators.h"

namespace qkv::cli {

inline void add_vit_model_options(CLI::App& app, models::VitConfig& c) {
  app.add_option("--patch", c.patch, "Patch side p (image side must be a multiple)")
      ->check(int_in(1, models::VitConfig::kMaxImageSize))
      ->capture_default_str();
  app.add_option("--dim", c.dim, "Model width E")->check(int_in(1, models::VitConfig::kMaxDim))->capture_default_str();
  app.add_option("--depth", c.depth, "Number of encoder blocks")->check(int_in(0, models::VitConfig::kMaxDepth))->capture_default_str();
  app.add_option("--heads", c.heads, "Attention heads (must divide --dim)")->check(int_in(1, models::VitConfig::kMaxDim))->capture_default_str();
  app.add_option("--mlp-hidden", c.mlp_hidden, "MLP hidden width (E × MLP ratio)")
      ->check(int_in(1, models::VitConfig::kMaxMlpHidden))
      ->capture_default_str();
  app.add_option("--dropout", c.dropout, "MLP dropout in training")->check(real_in(0, 1))->capture_default_str();
  app.add_option("--attn-dropout", c.attn_dropout, "Dropout on attention weights in training")
      ->check(real_in(0, 1))
      ->capture_default_str();
}

}  // namespace qkv::cli
