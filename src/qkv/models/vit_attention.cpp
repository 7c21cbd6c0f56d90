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
  out.readout = c.class_token() ? "class-token" : "mean-pooled";
  out.probs = prediction_from_logits(logits).probs;

  // The last block's rows that reach the head: (1, H, 1, L), the class token's row, or, with
  // mean pooling, all L rows (1, H, L, L), averaged. Patch tokens start at column `first`.
  const TensorF& last = model.attention_weights(c.depth - 1);
  const int64_t Lq = last.dim(2), first = c.class_token() ? 1 : 0;
  for (int64_t h = 0; h < H; ++h) {
    std::vector<float> row(static_cast<size_t>(N));
    for (int64_t j = 0; j < N; ++j) {
      double m = 0;
      for (int64_t i = 0; i < Lq; ++i) m += last[(h * Lq + i) * L + first + j];
      row[static_cast<size_t>(j)] = static_cast<float>(m / static_cast<double>(Lq));
    }
    out.heads.push_back(std::move(row));
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
  // The last block: the readout row, A₀ⱼ = (mean_h W₀ⱼ + [j = 0])/2 (rows sum to 1) for the class
  // token; with mean pooling the mean over i of Aᵢⱼ = (mean_h Wᵢⱼ + [i = j])/2.
  std::vector<double> a0(static_cast<size_t>(L), 0.0);
  for (int64_t i = 0; i < Lq; ++i)
    for (int64_t j = 0; j < L; ++j) {
      double m = 0;
      for (int64_t h = 0; h < H; ++h) m += last[(h * Lq + i) * L + j];
      a0[static_cast<size_t>(j)] += (0.5 * m / static_cast<double>(H) + (j == i ? 0.5 : 0.0)) / static_cast<double>(Lq);
    }
  for (int64_t j = first; j < L; ++j) {
    double s = 0;
    for (int64_t k = 0; k < L; ++k) s += a0[static_cast<size_t>(k)] * R[static_cast<size_t>(k * L + j)];
    out.rollout.push_back(static_cast<float>(s));
  }
  return out;
}

}  // namespace qkv::models
