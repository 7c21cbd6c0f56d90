// Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16 Words") for small images.
//
// Glossary: B batch, C channels, S image side, p patch side, G = S/p patches per side,
// N = G² patches, L = N + 1 tokens (class token first), E width, H heads, F MLP hidden width.
//
//   images (B, C, S, S) float (already normalised by the caller, e.g. data::normalize_pixels)
//   patches (B·N, C·p·p)            patch (gy, gx) → row gy·G + gx, column c·p·p + iy·p + ix
//   tokens  (B, L, E)               [cls_token ; patches·Wᵀ + b] + pos_embed
//   blocks  × depth (pre-norm):     x ← x + MHSA(LN1(x));  x ← x + MLP(LN2(x))   (MLP: fc1 → GELU → fc2)
//   logits  (B, classes)            head(LN(x[:, 0]))
// Only the class token reaches the head, so the last block runs for that token alone (its
// query attends to every token's key and value): the same logits, about 1/depth less work.
// Options (VitConfig): stem "conv" replaces the patch map by a convolutional stem (conv3×3 s1 →
// GELU → conv3×3 s2 → GELU → … → conv3×3 s2 to E channels; its (B, E, G, G) output, read
// row-major over (gy, gx), gives the patch tokens); pool "mean" drops the class token (L = N) and
// feeds the mean of the N tokens to LN and the head, every block running in full; drop_path P
// (training only) drops block i's two residual branches per sample with rate P·i/(depth − 1),
// nn/drop_path.h, seeded from the step seed.
//
// Parameters (PyTorch state_dict names; a torch module built as in tests/python/torch_vit.py
// — nn.Conv2d(C, E, p, stride=p) patch embedding, nn.MultiheadAttention(batch_first=True),
// nn.LayerNorm, nn.Linear — loads the same weights unchanged):
//   cls_token (1, 1, E) (pool "cls" only)   pos_embed (1, L, E)
//   patch_embed.proj.weight (E, C, p, p) — a stride-p convolution's kernel, which is also the
//       (E, C·p·p) matrix of the per-patch linear map; patch_embed.proj.bias (E,)
//   or, stem "conv" (an nn.Sequential of Conv2d and GELU): patch_embed.stem.{0,2,4,…}.weight
//       (cᵢ₊₁, cᵢ, 3, 3) and .bias (cᵢ₊₁,), c₀ = C, the last = E
//   blocks.i.norm1.{weight,bias}  blocks.i.attn.{in_proj_weight (3E, E), in_proj_bias, out_proj.weight, out_proj.bias}
//   blocks.i.norm2.{weight,bias}  blocks.i.mlp.fc1.{weight (F, E), bias}  blocks.i.mlp.fc2.{weight (E, F), bias}
//   norm.{weight,bias}   head.{weight (classes, E), bias}
//
// forward() saves, per block, what LayerNorm / MHA / MLP save, plus the patches and the class
// rows; every buffer is reused between calls of the same batch size, so a steady-state training
// step allocates nothing in the model. backward(dlogits) accumulates every parameter gradient.
// Attention runs through nn::MultiheadAttention (whichever SDPA backend it picks).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "qkv/nn/conv2d.h"
#include "qkv/nn/gelu.h"
#include "qkv/nn/layernorm.h"
#include "qkv/nn/mlp.h"
#include "qkv/nn/multihead_attention.h"

namespace qkv::io {
class SafeTensors;
}

namespace qkv::models {

struct VitConfig {
  int64_t image_size = 28;
  int64_t channels = 1;
  int64_t patch = 7;  // 4×4 = 16 patches + the class token: 17 tokens
  int64_t dim = 64;
  int64_t depth = 6;
  int64_t heads = 4;
  int64_t mlp_hidden = 128;
  int64_t classes = 10;
  double dropout = 0.0;       // MLP dropout (training only)
  double attn_dropout = 0.0;  // dropout on the attention weights (training only)
  // "patch": a linear map of each p×p patch (a stride-p p×p convolution). "conv": a convolutional
  // stem (Xiao et al. 2021): conv3×3 s1 (C → c₁) → GELU → [conv3×3 s2 (cᵢ → cᵢ₊₁) → GELU]… →
  // conv3×3 s2 (c_last → E), all with padding 1: total stride 2^|stem_channels|, which must be patch.
  std::string stem = "patch";
  std::vector<int64_t> stem_channels = {24, 48};  // the conv stem's hidden widths c₁, c₂, …
  // "cls": the class token (first token) reaches the head; "mean": the mean of the patch tokens
  // does, and there is no class token.
  std::string pool = "cls";
  double drop_path = 0.0;  // stochastic depth: block i drops its branches with rate drop_path·i/(depth−1)

  int64_t grid() const { return image_size / patch; }
  int64_t num_patches() const { return grid() * grid(); }
  bool class_token() const { return pool == "cls"; }
  int64_t tokens() const { return num_patches() + (class_token() ? 1 : 0); }
  bool conv_stem() const { return stem == "conv"; }
  // The conv stem's total stride: one stride-2 convolution per hidden width.
  int64_t stem_stride() const { return int64_t{1} << std::min<size_t>(stem_channels.size(), 62); }
  // Block i's stochastic-depth rate (timm's linspace(0, drop_path, depth)).
  double drop_path_rate(int64_t block) const {
    return depth > 1 ? drop_path * static_cast<double>(block) / static_cast<double>(depth - 1) : 0.0;
  }
  // The bounds validate() enforces (the CLI's options use the same), besides at most
  // 2^25 (33.5 million) parameters in all.
  static constexpr int64_t kMaxImageSize = 4096, kMaxChannels = 64, kMaxPatches = 4096, kMaxDim = 4096,
                           kMaxDepth = 256, kMaxMlpHidden = 16384, kMaxClasses = 100000, kMaxStemLayers = 8;
  // Throws qkv::Error naming the bad field.
  void validate() const;
  std::string to_json() const;
  // Every field must be an integer (dropouts numbers, stem and pool strings, stem_channels a
  // list of integers); stem, stem_channels, pool and drop_path may be absent (files written
  // before they existed): then their defaults. Then validate().
  static VitConfig from_json(const std::string& text);
  // (name, shape) of every parameter, in named_parameters() order, computed from the config
  // alone: loaders check a file against it before building the model. Call after validate().
  std::vector<std::pair<std::string, Shape>> parameter_shapes() const;
};

template <typename T>
class VitBlock : public nn::Module<T> {
 public:
  VitBlock(const VitConfig& c, Rng& rng);
  // x (B, L, E) must stay unchanged until backward(). Returns (B, L, E).
  const Tensor<T>& forward(const Tensor<T>& x, bool training, uint64_t seed, bool need_weights);
  const Tensor<T>& backward(const Tensor<T>& dy);
  // The same block computed for the class token only (the last block: nothing else reaches the
  // head): the class-token query attends to all L keys/values, then its MLP. Returns (B, 1, E);
  // backward_cls(dy (B, 1, E)) returns dx (B, L, E). Same values as forward()'s row 0.
  const Tensor<T>& forward_cls(const Tensor<T>& x, bool training, uint64_t seed, bool need_weights);
  const Tensor<T>& backward_cls(const Tensor<T>& dy);
  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;

  nn::LayerNorm<T> norm1;
  nn::MultiheadAttention<T> attn;
  nn::LayerNorm<T> norm2;
  nn::Mlp<T> mlp;
  double drop_path = 0.0;  // stochastic-depth rate of both branches (training only)

 private:
  nn::MhaCall attention_call(bool training, uint64_t seed, bool need_weights) const;
  // The second residual half on x1_ (saved): out_ = x1_ + mlp(norm2(x1_)); its backward returns
  // dx1_ = dy + norm2ᵀ(mlpᵀ(dy)).
  const Tensor<T>& mlp_residual(bool training, uint64_t seed);
  const Tensor<T>& mlp_residual_backward(const Tensor<T>& dy);

  // The per-sample scales of the attention and MLP branches (nn/drop_path.h); empty: no drop path.
  void draw_drop_path(bool training, uint64_t seed, int64_t batch);
  // x1_ = x + s·a over B rows of n elements (s from draw_drop_path).
  void attention_residual(const T* x, const T* a, int64_t n);
  // dy scaled by the branch's scales s (into dbranch_), or dy itself without drop path.
  const Tensor<T>& branch_grad(const Tensor<T>& dy, const std::vector<double>& s);

  std::vector<double> s_attn_, s_mlp_;
  Tensor<T> x1_, out_, dx1_, dx_, hq_, dh_, dbranch_;
};

template <typename T>
class Vit : public nn::Module<T> {
 public:
  explicit Vit(const VitConfig& config, uint64_t seed = 0);

  // images (B, C, S, S) → logits (B, classes). need_weights keeps every block's per-head
  // attention weights (B, H, L, L) for attention maps (see attention_weights()).
  const Tensor<T>& forward(const Tensor<T>& images, bool training = false, uint64_t seed = 0,
                           bool need_weights = false);
  void backward(const Tensor<T>& dlogits);
  // Block i's per-head weights from the last forward with need_weights: (B, H, L, L), except
  // for the last block, which only has the class token's row: (B, H, 1, L).
  const Tensor<T>& attention_weights(int64_t block) const;

  void collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) override;
  const VitConfig& config() const { return config_; }

  nn::Parameter<T> cls_token, pos_embed, patch_weight, patch_bias;  // cls_token: pool "cls"; patch_*: stem "patch"
  std::vector<nn::Conv2d<T>> stem;  // stem "conv": the convolutions, a GELU between two
  std::vector<std::unique_ptr<VitBlock<T>>> blocks;
  nn::LayerNorm<T> norm;
  nn::Linear<T> head;

 private:
  VitConfig config_;
  int64_t B_ = 0;
  // images → embed_ (B·N, E), the patch tokens before the position embedding.
  void embed_patches(const Tensor<T>& images);
  // dembed (B·N, E) → the patch map's or the stem's parameter gradients.
  void embed_backward();

  std::vector<nn::Gelu<T>> stem_act_;
  Tensor<T> patches_, embed_, tokens_, cls_, dtokens_, dpatch_, dstem_;
};

// The model file written by train::save_vit: the model's weights under their state_dict names
// plus the config as metadata "vit_config" (JSON). load_vit accepts any safetensors file holding
// those keys (extra keys such as "optim.*" are ignored); it validates the config and checks every
// tensor (present, F32, shape, finite) before allocating the model, and throws qkv::FileError
// naming the file and the key or tensor.
std::unique_ptr<Vit<float>> load_vit(const std::string& path);
// What load_vit checks before it allocates the model: the "vit_config" metadata (integers within
// the bounds of validate()) and every tensor it implies (present, F32, its shape, finite).
// Returns the config; throws qkv::FileError naming the file and the key or tensor.
VitConfig checked_vit_config(const io::SafeTensors& file);

}  // namespace qkv::models
