// CLI options shared by the ViT commands (train, bench vit): the model's hyper-parameters.
#pragma once

#include <CLI/CLI.hpp>

#include "qkv/models/vit.h"
#include "validators.h"

namespace qkv::cli {

inline void add_vit_model_options(CLI::App& app, models::VitConfig& c) {
  CLI::Option* patch = app.add_option("--patch", c.patch, "Patch side p (image side must be a multiple)")
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
  // The model-side recipe options (issue 15): stem, pooling, stochastic depth.
  app.add_option("--stem", c.stem,
                 "Patch embedding: 'patch' (a linear map per patch) or 'conv' (conv3x3 s1 -> GELU -> conv3x3 s2 "
                 "-> ... -> conv3x3 s2 to --dim; total stride 2^(number of --stem-channels) is the patch side, "
                 "and --patch defaults to it)")
      ->check(CLI::IsMember({"patch", "conv"}))
      ->capture_default_str();
  app.add_option("--stem-channels", c.stem_channels, "Hidden widths of the conv stem, comma-separated (--stem conv)")
      ->delimiter(',')
      ->check(int_in(1, models::VitConfig::kMaxDim))
      ->capture_default_str();
  app.add_option("--pool", c.pool, "What reaches the head: 'cls' (the class token) or 'mean' (mean of the patch tokens)")
      ->check(CLI::IsMember({"cls", "mean"}))
      ->capture_default_str();
  app.add_option("--drop-path", c.drop_path,
                 "Stochastic depth in training: block i drops its residual branches per image with rate "
                 "P*i/(depth-1)")
      ->check(real_in(0, 1))
      ->capture_default_str();
  app.parse_complete_callback([&c, patch] {
    if (c.conv_stem() && patch->count() == 0) c.patch = c.stem_stride();
  });
}

}  // namespace qkv::cli
