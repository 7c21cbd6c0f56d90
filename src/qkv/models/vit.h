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
//
// Parameters (PyTorch state_dict names; a torch module built as in tests/python/torch_vit.py
// — nn.Conv2d(C, E, p, stride=p) patch embedding, nn.MultiheadAttention(batch_first=True),
// nn.LayerNorm, nn.Linear — loads the same weights unchanged):
//   cls_token (1, 1, E)   pos_embed (1, L, E)
//   patch_embed.proj.weight (E, C, p, p) — a stride-p convolution's kernel, which is also the
//       (E, C·p·p) matrix of the per-patch linear map; patch_embed.proj.bias (E,)
//   blocks.i.norm1.{weight,bias}  blocks.i.attn.{in_proj_weight (3E, E), in_proj_bias, out_proj.weight, out_proj.bias}
//   blocks.i.norm2.{weight,bias}  blocks.i.mlp.fc1.{weight (F, E), bias}  blocks.i.mlp.fc2.{weight (E, F), bias}
//   norm.{weight,bias}   head.{weight (classes, E), bias}
//
// forward() saves, per block, what LayerNorm / MHA / MLP save, plus the patches and the class
// rows; every buffer is reused between calls of the same batch size, so a steady-state training
// step allocates nothing in the model. backward(dlogits) accumulates every parameter gradient.
// Attention runs through nn::MultiheadAttention (whichever SDPA backend it picks).
#pragma once

#include <memory>
#include <string>
#include <vector>

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

  int64_t grid() const { return image_size / patch; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t tokens() const { return num_patches() + 1; }
  // The bounds validate() enforces (the CLI's options use the same), besides at most
  // 2^25 (33.5 million) parameters in all.
  static constexpr int64_t kMaxImageSize = 4096, kMaxChannels = 64, kMaxPatches = 4096, kMaxDim = 4096,
                           kMaxDepth = 256, kMaxMlpHidden = 16384, kMaxClasses = 100000;
  // Throws qkv::Error naming the bad field.
  void validate() const;
  std::string to_json() const;
  // Every field must be an integer (dropouts numbers); then validate().
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

 private:
  nn::MhaCall attention_call(bool training, uint64_t seed, bool need_weights) const;
  // The second residual half on x1_ (saved): out_ = x1_ + mlp(norm2(x1_)); its backward returns
  // dx1_ = dy + norm2ᵀ(mlpᵀ(dy)).
  const Tensor<T>& mlp_residual(bool training, uint64_t seed);
  const Tensor<T>& mlp_residual_backward(const Tensor<T>& dy);

  Tensor<T> x1_, out_, dx1_, dx_, hq_, dh_;
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

  nn::Parameter<T> cls_token, pos_embed, patch_weight, patch_bias;
  std::vector<std::unique_ptr<VitBlock<T>>> blocks;
  nn::LayerNorm<T> norm;
  nn::Linear<T> head;

 private:
  VitConfig config_;
  int64_t B_ = 0;
  Tensor<T> patches_, embed_, tokens_, cls_, dtokens_, dpatch_;
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
