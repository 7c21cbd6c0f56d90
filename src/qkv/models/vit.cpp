#include "qkv/models/vit.h"

#include <cmath>
#include <cstring>

#include "qkv/core/parallel.h"
#include "qkv/io/module_weights.h"
#include "qkv/kernels/add_inplace.h"
#include "qkv/nn/drop_path.h"
#include "qkv/nn/linear.h"

namespace qkv::models {
namespace {

// dst = a + b over n elements.
template <typename T>
void add(T* dst, const T* a, const T* b, int64_t n) {
  parallel_for(n, 16384, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) dst[i] = a[i] + b[i];
  });
}

// y += x over n elements.
template <typename T>
void accumulate(T* y, const T* x, int64_t n) {
  kernels::add_inplace(y, x, n);
}

template <typename T>
void trunc_normal(Tensor<T>& t, Rng& rng, double std) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v;
    do v = rng.normal(); while (std::abs(v) > 2.0);
    t[i] = static_cast<T>(v * std);
  }
}

}  // namespace

// ---------------------------------------------------------------- block

template <typename T>
VitBlock<T>::VitBlock(const VitConfig& c, Rng& rng)
    : norm1(c.dim, 1e-6),
      attn(nn::MhaOptions{c.dim, c.heads, true, 0, 0, 0, c.attn_dropout}, rng),
      norm2(c.dim, 1e-6),
      mlp(c.dim, c.mlp_hidden, c.dropout, rng) {
  for (nn::Linear<T>* l : {&mlp.fc1, &mlp.fc2}) {
    trunc_normal(l->weight.value, rng, 0.02);
    l->bias.value.fill(T(0));
  }
}

template <typename T>
nn::MhaCall VitBlock<T>::attention_call(bool training, uint64_t seed, bool need_weights) const {
  nn::MhaCall call;
  call.training = training;
  call.dropout_seed = seed * 4 + 1;
  call.need_weights = need_weights;
  call.average_attn_weights = false;
  return call;
}

template <typename T>
void VitBlock<T>::draw_drop_path(bool training, uint64_t seed, int64_t batch) {
  s_attn_.clear();
  s_mlp_.clear();
  if (!training || drop_path <= 0) return;
  s_attn_ = nn::drop_path_scales(seed * 4 + 3, batch, drop_path);
  s_mlp_ = nn::drop_path_scales(~(seed * 4 + 3), batch, drop_path);
}

template <typename T>
void VitBlock<T>::attention_residual(const T* x, const T* a, int64_t n) {
  if (s_attn_.empty()) {
    add(x1_.data(), x, a, x1_.numel());
  } else {
    nn::drop_path_add(x, a, x1_.data(), s_attn_, n);
  }
}

template <typename T>
const Tensor<T>& VitBlock<T>::branch_grad(const Tensor<T>& dy, const std::vector<double>& s) {
  if (s.empty()) return dy;
  ensure_shape(dbranch_, dy.shape());
  nn::drop_path_scale_rows(dy.data(), dbranch_.data(), s, dy.numel() / static_cast<int64_t>(s.size()));
  return dbranch_;
}

template <typename T>
const Tensor<T>& VitBlock<T>::mlp_residual(bool training, uint64_t seed) {
  const Tensor<T>& m = mlp.forward(norm2.forward(x1_), training, seed * 4 + 2);
  ensure_shape(out_, x1_.shape());
  if (s_mlp_.empty()) {
    add(out_.data(), x1_.data(), m.data(), x1_.numel());
  } else {
    nn::drop_path_add(x1_.data(), m.data(), out_.data(), s_mlp_, x1_.numel() / x1_.dim(0));
  }
  return out_;
}

template <typename T>
const Tensor<T>& VitBlock<T>::mlp_residual_backward(const Tensor<T>& dy) {
  const Tensor<T>& dh2 = norm2.backward(mlp.backward(branch_grad(dy, s_mlp_)));
  ensure_shape(dx1_, dy.shape());
  add(dx1_.data(), dy.data(), dh2.data(), dy.numel());
  return dx1_;
}

template <typename T>
const Tensor<T>& VitBlock<T>::forward(const Tensor<T>& x, bool training, uint64_t seed, bool need_weights) {
  const Tensor<T>& h = norm1.forward(x);
  const nn::MhaCall call = attention_call(training, seed, need_weights);
  const Tensor<T>& a = attn.self_attention(h, call);
  ensure_shape(x1_, x.shape());
  draw_drop_path(training, seed, x.dim(0));
  attention_residual(x.data(), a.data(), x.dim(1) * x.dim(2));
  return mlp_residual(training, seed);
}

template <typename T>
const Tensor<T>& VitBlock<T>::backward(const Tensor<T>& dy) {
  mlp_residual_backward(dy);
  nn::MhaGrads<T> g = attn.backward(branch_grad(dx1_, s_attn_));
  const Tensor<T>& dh = norm1.backward(g.dquery);
  ensure_shape(dx_, dy.shape());
  add(dx_.data(), dx1_.data(), dh.data(), dy.numel());
  return dx_;
}

template <typename T>
const Tensor<T>& VitBlock<T>::forward_cls(const Tensor<T>& x, bool training, uint64_t seed, bool need_weights) {
  const int64_t B = x.dim(0), L = x.dim(1), E = x.dim(2);
  const Tensor<T>& h = norm1.forward(x);
  ensure_shape(hq_, {B, 1, E});
  for (int64_t b = 0; b < B; ++b) std::memcpy(hq_.data() + b * E, h.data() + b * L * E, sizeof(T) * E);
  const nn::MhaCall call = attention_call(training, seed, need_weights);
  const Tensor<T>& a = attn.forward(hq_, h, h, call);
  ensure_shape(x1_, {B, 1, E});
  draw_drop_path(training, seed, B);
  for (int64_t b = 0; b < B; ++b) {
    const T k = s_attn_.empty() ? T(1) : static_cast<T>(s_attn_[static_cast<size_t>(b)]);
    for (int64_t j = 0; j < E; ++j) x1_.data()[b * E + j] = x.data()[b * L * E + j] + k * a.data()[b * E + j];
  }
  return mlp_residual(training, seed);
}

template <typename T>
const Tensor<T>& VitBlock<T>::backward_cls(const Tensor<T>& dy) {
  mlp_residual_backward(dy);
  nn::MhaGrads<T> g = attn.backward(branch_grad(dx1_, s_attn_));  // dquery (B, 1, E); dkey, dvalue (B, L, E)
  const int64_t B = g.dkey.dim(0), L = g.dkey.dim(1), E = g.dkey.dim(2);
  ensure_shape(dh_, {B, L, E});
  add(dh_.data(), g.dkey.data(), g.dvalue.data(), B * L * E);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < E; ++j) dh_.data()[b * L * E + j] += g.dquery.data()[b * E + j];
  const Tensor<T>& dxn = norm1.backward(dh_);
  ensure_shape(dx_, {B, L, E});
  std::memcpy(dx_.data(), dxn.data(), sizeof(T) * static_cast<size_t>(B * L * E));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < E; ++j) dx_.data()[b * L * E + j] += dx1_.data()[b * E + j];
  return dx_;
}

template <typename T>
void VitBlock<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  norm1.collect_parameters(prefix + "norm1.", out);
  attn.collect_parameters(prefix + "attn.", out);
  norm2.collect_parameters(prefix + "norm2.", out);
  mlp.collect_parameters(prefix + "mlp.", out);
}

// ---------------------------------------------------------------- model

template <typename T>
Vit<T>::Vit(const VitConfig& c, uint64_t seed) : config_(c) {
  c.validate();
  Rng rng(seed);
  const int64_t E = c.dim, K = c.channels * c.patch * c.patch;
  if (c.class_token()) cls_token = nn::Parameter<T>({1, 1, E}, false);
  pos_embed = nn::Parameter<T>({1, c.tokens(), E}, false);
  if (c.class_token()) trunc_normal(cls_token.value, rng, 0.02);
  trunc_normal(pos_embed.value, rng, 0.02);
  if (c.conv_stem()) {
    int64_t in = c.channels;
    for (size_t i = 0; i <= c.stem_channels.size(); ++i) {
      const int64_t out = i < c.stem_channels.size() ? c.stem_channels[i] : E;
      stem.emplace_back(in, out, 3, i == 0 ? 1 : 2, 1, true, rng);
      in = out;
    }
    stem_act_.resize(stem.size() - 1);
  } else {
    patch_weight = nn::Parameter<T>({E, c.channels, c.patch, c.patch});
    patch_bias = nn::Parameter<T>({E}, false);
    // PyTorch's Conv2d default: U(±1/√fan_in) for kernel and bias.
    const double bound = 1.0 / std::sqrt(static_cast<double>(K));
    for (int64_t i = 0; i < patch_weight.value.numel(); ++i) patch_weight.value[i] = static_cast<T>(rng.uniform(-bound, bound));
    for (int64_t i = 0; i < E; ++i) patch_bias.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  }
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks.push_back(std::make_unique<VitBlock<T>>(c, rng));
    blocks.back()->drop_path = c.drop_path_rate(i);
  }
  norm = nn::LayerNorm<T>(E, 1e-6);
  head = nn::Linear<T>(E, c.classes, true, rng);
  trunc_normal(head.weight.value, rng, 0.02);
  head.bias.value.fill(T(0));
}

template <typename T>
void Vit<T>::collect_parameters(const std::string& prefix, nn::NamedParameters<T>& out) {
  if (config_.class_token()) out.emplace_back(prefix + "cls_token", &cls_token);
  out.emplace_back(prefix + "pos_embed", &pos_embed);
  if (config_.conv_stem()) {
    for (size_t i = 0; i < stem.size(); ++i) stem[i].collect_parameters(prefix + "patch_embed.stem." + std::to_string(2 * i) + ".", out);
  } else {
    out.emplace_back(prefix + "patch_embed.proj.weight", &patch_weight);
    out.emplace_back(prefix + "patch_embed.proj.bias", &patch_bias);
  }
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i]->collect_parameters(prefix + "blocks." + std::to_string(i) + ".", out);
  norm.collect_parameters(prefix + "norm.", out);
  head.collect_parameters(prefix + "head.", out);
}

template <typename T>
void Vit<T>::embed_patches(const Tensor<T>& images) {
  const VitConfig& c = config_;
  const int64_t B = images.dim(0), C = c.channels, S = c.image_size, p = c.patch, G = c.grid(), N = c.num_patches();
  const int64_t E = c.dim, K = C * p * p;
  ensure_shape(embed_, {B * N, E});
  if (c.conv_stem()) {
    const Tensor<T>* h = &images;
    for (size_t i = 0; i < stem.size(); ++i) {
      h = &stem[i].forward(*h);
      if (i + 1 < stem.size()) h = &stem_act_[i].forward(*h);
    }
    const T* y = h->data();  // (B, E, G, G)
    T* emb = embed_.data();
    parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t e = 0; e < E; ++e) emb[(b * N + n) * E + e] = y[(b * E + e) * N + n];
    });
    return;
  }
  ensure_shape(patches_, {B * N, K});
  const T* img = images.data();
  T* P = patches_.data();
  parallel_for(B * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / N, gy = (r % N) / G, gx = r % G;
      T* row = P + r * K;
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t iy = 0; iy < p; ++iy)
          std::memcpy(row + (ch * p + iy) * p, img + ((b * C + ch) * S + gy * p + iy) * S + gx * p, sizeof(T) * p);
    }
  });
  linear_forward(P, patch_weight.value.data(), patch_bias.value.data(), embed_.data(), B * N, K, E);
}

template <typename T>
void Vit<T>::embed_backward() {
  const VitConfig& c = config_;
  const int64_t B = B_, N = c.num_patches(), E = c.dim, K = c.channels * c.patch * c.patch;
  if (!c.conv_stem()) {
    linear_backward<T>(dpatch_.data(), patches_.data(), patch_weight.value.data(), nullptr, patch_weight.grad.data(),
                       patch_bias.grad.data(), B * N, K, E);
    return;
  }
  ensure_shape(dstem_, {B, E, c.grid(), c.grid()});
  const T* g = dpatch_.data();
  T* d = dstem_.data();
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t e = 0; e < E; ++e)
        for (int64_t n = 0; n < N; ++n) d[(b * E + e) * N + n] = g[(b * N + n) * E + e];
  });
  const Tensor<T>* dh = &dstem_;
  for (size_t i = stem.size(); i-- > 0;) {
    dh = &stem[i].backward(*dh, i > 0);  // the images need no gradient
    if (i > 0) dh = &stem_act_[i - 1].backward(*dh);
  }
}

template <typename T>
const Tensor<T>& Vit<T>::forward(const Tensor<T>& images_in, bool training, uint64_t seed, bool need_weights) {
  const VitConfig& c = config_;
  check_shape("Vit.forward", "images", images_in, {-1, c.channels, c.image_size, c.image_size});
  const Tensor<T> images = images_in.contiguous();
  const int64_t B = images.dim(0), N = c.num_patches(), L = c.tokens(), E = c.dim, first = c.class_token() ? 1 : 0;
  QKV_CHECK(B > 0, "Vit.forward: argument 'images' has an empty batch");
  B_ = B;
  ensure_shape(tokens_, {B, L, E});
  embed_patches(images);
  const T* pos = pos_embed.value.data();
  const T* cls = first ? cls_token.value.data() : nullptr;
  const T* emb = embed_.data();
  T* tok = tokens_.data();
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* t = tok + b * L * E;
      if (cls)
        for (int64_t j = 0; j < E; ++j) t[j] = cls[j] + pos[j];
      add(t + first * E, emb + b * N * E, pos + first * E, N * E);
    }
  });
  const Tensor<T>* x = &tokens_;
  // With the class token the last block runs for it alone (forward_cls); with mean pooling in full.
  const size_t full = c.class_token() && !blocks.empty() ? blocks.size() - 1 : blocks.size();
  for (size_t i = 0; i < full; ++i) x = &blocks[i]->forward(*x, training, seed * 1000003 + i, need_weights);
  ensure_shape(cls_, {B, E});
  if (!c.class_token()) {
    const T* xt = x->data();
    T* pooled = cls_.data();
    parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t j = 0; j < E; ++j) {
          double acc = 0;
          for (int64_t t = 0; t < L; ++t) acc += static_cast<double>(xt[(b * L + t) * E + j]);
          pooled[b * E + j] = static_cast<T>(acc / static_cast<double>(L));
        }
    });
  } else if (!blocks.empty()) {
    const size_t last = blocks.size() - 1;
    const Tensor<T>& c = blocks[last]->forward_cls(*x, training, seed * 1000003 + last, need_weights);
    std::memcpy(cls_.data(), c.data(), sizeof(T) * static_cast<size_t>(B * E));
  } else {
    for (int64_t b = 0; b < B; ++b) std::memcpy(cls_.data() + b * E, x->data() + b * L * E, sizeof(T) * E);
  }
  return head.forward(norm.forward(cls_));
}

template <typename T>
void Vit<T>::backward(const Tensor<T>& dlogits) {
  const VitConfig& c = config_;
  const int64_t B = B_, N = c.num_patches(), L = c.tokens(), E = c.dim, first = c.class_token() ? 1 : 0;
  QKV_CHECK(B > 0, "Vit.backward: called before forward");
  check_shape("Vit.backward", "dlogits", dlogits, {B, c.classes});
  const Tensor<T>& dcls = norm.backward(head.backward(dlogits));
  const Tensor<T>* d = nullptr;
  if (!c.class_token()) {
    // The mean over L tokens: each token gets dpooled / L.
    ensure_shape(dtokens_, {B, L, E});
    T* dt = dtokens_.data();
    const T inv = static_cast<T>(1.0 / static_cast<double>(L));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t j = 0; j < E; ++j) dt[(b * L + t) * E + j] = dcls.data()[b * E + j] * inv;
    d = &dtokens_;
    for (size_t i = blocks.size(); i-- > 0;) d = &blocks[i]->backward(*d);
  } else if (!blocks.empty()) {
    d = &blocks.back()->backward_cls(dcls.view({B, 1, E}));
    for (size_t i = blocks.size() - 1; i-- > 0;) d = &blocks[i]->backward(*d);
  } else {
    ensure_shape(dtokens_, {B, L, E});
    T* dt = dtokens_.data();
    std::fill(dt, dt + B * L * E, T(0));
    for (int64_t b = 0; b < B; ++b) std::memcpy(dt + b * L * E, dcls.data() + b * E, sizeof(T) * E);
    d = &dtokens_;
  }
  const T* g = d->data();
  T* dpos = pos_embed.grad.data();
  ensure_shape(dpatch_, {B * N, E});
  for (int64_t b = 0; b < B; ++b) {
    const T* gb = g + b * L * E;
    if (first) accumulate(cls_token.grad.data(), gb, E);
    accumulate(dpos, gb, L * E);
    std::memcpy(dpatch_.data() + b * N * E, gb + first * E, sizeof(T) * N * E);
  }
  embed_backward();
}

template <typename T>
const Tensor<T>& Vit<T>::attention_weights(int64_t block) const {
  QKV_CHECK(block >= 0 && block < static_cast<int64_t>(blocks.size()), "Vit.attention_weights: block ", block,
            " out of range [0, ", blocks.size(), ")");
  const Tensor<T>& w = blocks[static_cast<size_t>(block)]->attn.weights();
  QKV_CHECK(w.defined(), "Vit.attention_weights: run forward with need_weights=true first");
  return w;
}

template class VitBlock<float>;
template class VitBlock<double>;
template class Vit<float>;
template class Vit<double>;

std::unique_ptr<Vit<float>> load_vit(const std::string& path) {
  io::SafeTensors f = io::read_safetensors(path);
  auto model = std::make_unique<Vit<float>>(checked_vit_config(f));
  io::load_module_weights(*model, f);
  return model;
}

}  // namespace qkv::models
