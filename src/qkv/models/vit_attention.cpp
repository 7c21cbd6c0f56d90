#include "qkv/models/vit_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "qkv/models/vit_predict.h"

namespace qkv::models {

VitAttentionMaps vit_attention_maps(Vit<float>& model, const float* image) {
  const VitConfig& c = model.config();
  QKV_CHECK(c.depth > 0, "vit_attention_maps: the model has no blocks (depth 0), so no attention");
  const int64_t S = c.image_size, L = c.tokens(), H = c.heads, N = c.num_patches();
  TensorF x({1, c.channels, S, S});
  std::memcpy(x.data(), image, sizeof(float) * static_cast<size_t>(x.numel()));
  const TensorF& logits = model.forward(x, false, 0, true);
  VitAttentionMaps out;
  out.grid = c.grid();
  out.probs = prediction_from_logits(logits).probs;

  const TensorF& last = model.attention_weights(c.depth - 1);  // (1, H, 1, L): the class token's row
  for (int64_t h = 0; h < H; ++h) {
    const float* row0 = last.data() + h * L;
    out.heads.emplace_back(row0 + 1, row0 + 1 + N);
  }
  std::vector<double> R(static_cast<size_t>(L * L), 0.0), A(R.size()), T(R.size());
  for (int64_t i = 0; i < L; ++i) R[static_cast<size_t>(i * L + i)] = 1.0;
  for (int64_t blk = 0; blk + 1 < c.depth; ++blk) {
    const TensorF& w = model.attention_weights(blk);
    for (int64_t i = 0; i < L; ++i) {
      double row = 0;
      for (int64_t j = 0; j < L; ++j) {
        double m = 0;
        for (int64_t h = 0; h < H; ++h) m += w[(h * L + i) * L + j];
        double a = 0.5 * m / static_cast<double>(H) + (i == j ? 0.5 : 0.0);
        A[static_cast<size_t>(i * L + j)] = a;
        row += a;
      }
      for (int64_t j = 0; j < L; ++j) A[static_cast<size_t>(i * L + j)] /= row;
    }
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < L; ++j) {
        double s = 0;
        for (int64_t k = 0; k < L; ++k) s += A[static_cast<size_t>(i * L + k)] * R[static_cast<size_t>(k * L + j)];
        T[static_cast<size_t>(i * L + j)] = s;
      }
    R.swap(T);
  }
  // The last block: only the class token's row, A₀ⱼ = (mean_h W₀ⱼ + [j = 0])/2 (rows sum to 1).
  std::vector<double> a0(static_cast<size_t>(L));
  for (int64_t j = 0; j < L; ++j) {
    double m = 0;
    for (int64_t h = 0; h < H; ++h) m += last[h * L + j];
    a0[static_cast<size_t>(j)] = 0.5 * m / static_cast<double>(H) + (j == 0 ? 0.5 : 0.0);
  }
  for (int64_t j = 1; j < L; ++j) {
    double s = 0;
    for (int64_t k = 0; k < L; ++k) s += a0[static_cast<size_t>(k)] * R[static_cast<size_t>(k * L + j)];
    out.rollout.push_back(static_cast<float>(s));
  }
  return out;
}

}  // namespace qkv::models
