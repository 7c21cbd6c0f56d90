#include "qkv/models/vit_predict.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "qkv/ops/masked_softmax/masked_softmax.h"

namespace qkv::models {

VitPrediction prediction_from_logits(const TensorF& logits) {
  QKV_CHECK(logits.rank() == 2 && logits.dim(0) == 1 && logits.dim(1) > 0,
            "prediction_from_logits: argument 'logits' has shape ", shape_str(logits.shape()),
            "; expected (1, classes)");
  const int64_t K = logits.dim(1);
  const TensorF probs = masked_softmax(logits.contiguous().view({1, 1, K}));
  VitPrediction p;
  p.probs.assign(probs.data(), probs.data() + K);
  p.ranking.resize(static_cast<size_t>(K));
  std::iota(p.ranking.begin(), p.ranking.end(), 0);
  std::stable_sort(p.ranking.begin(), p.ranking.end(),
                   [&](int64_t a, int64_t b) { return p.probs[static_cast<size_t>(a)] > p.probs[static_cast<size_t>(b)]; });
  return p;
}

VitPrediction vit_predict(Vit<float>& model, const float* image) {
  const VitConfig& c = model.config();
  TensorF x({1, c.channels, c.image_size, c.image_size});
  std::memcpy(x.data(), image, sizeof(float) * static_cast<size_t>(x.numel()));
  return prediction_from_logits(model.forward(x, false));
}

}  // namespace qkv::models
