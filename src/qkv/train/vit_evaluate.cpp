#include "qkv/train/vit_evaluate.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "qkv/data/fashion_mnist.h"
#include "qkv/train/cross_entropy.h"

namespace qkv::train {
namespace {

// predict(images (n, 1, S, S), logits out (n, classes)).
template <typename Predict>
EvalResult evaluate_with(const models::VitConfig& c, Predict&& predict, const data::ImageDataset& ds, int64_t batch,
                         bool tta_flip) {
  QKV_CHECK(ds.rows == c.image_size && ds.cols == c.image_size && c.channels == 1, "evaluate: dataset images are ",
            ds.rows, "x", ds.cols, " gray; the model expects ", c.image_size, "x", c.image_size, " with ", c.channels,
            " channel(s)");
  QKV_CHECK(batch > 0, "evaluate: batch is ", batch, "; expected > 0");
  QKV_CHECK(ds.count > 0, "evaluate: the dataset is empty; expected at least one image");
  batch = std::min(batch, ds.count);
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(c.classes * c.classes), 0);
  TensorF x({batch, 1, c.image_size, c.image_size});
  TensorF logits({batch, c.classes}), flipped, flipped_logits({batch, c.classes});
  std::vector<int64_t> idx(static_cast<size_t>(batch)), labels(static_cast<size_t>(batch));
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < ds.count; start += batch) {
    const int64_t n = std::min(batch, ds.count - start);
    std::iota(idx.begin(), idx.begin() + n, start);
    data::normalized_images(ds, idx.data(), n, x.data());
    std::fill(x.data() + n * c.image_size * c.image_size, x.data() + x.numel(), 0.0f);
    predict(x, logits.data());
    if (tta_flip) {
      flip_images(x, flipped);
      predict(flipped, flipped_logits.data());
      for (int64_t k = 0; k < logits.numel(); ++k) logits[k] = 0.5f * (logits[k] + flipped_logits[k]);
    }
    for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = ds.labels[static_cast<size_t>(start + i)];
    auto ce = cross_entropy<float>(logits.data(), labels.data(), n, c.classes, nullptr);
    loss_sum += ce.loss * static_cast<double>(n);
    correct += ce.correct;
    for (int64_t i = 0; i < n; ++i) {
      const float* z = logits.data() + i * c.classes;
      int64_t arg = std::max_element(z, z + c.classes) - z;
      r.confusion[static_cast<size_t>(labels[static_cast<size_t>(i)] * c.classes + arg)]++;
    }
  }
  r.count = ds.count;
  r.accuracy = static_cast<double>(correct) / static_cast<double>(ds.count);
  r.loss = loss_sum / static_cast<double>(ds.count);
  return r;
}

}  // namespace

void flip_images(const TensorF& images, TensorF& out) {
  check_rank("flip_images", "images", images, 4);
  const TensorF x = images.contiguous();
  ensure_shape(out, x.shape());
  const int64_t rows = x.dim(0) * x.dim(1) * x.dim(2), S = x.dim(3);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < S; ++k) out[r * S + k] = x[r * S + S - 1 - k];
}

EvalResult evaluate(models::Vit<float>& model, const data::ImageDataset& ds, int64_t batch, bool tta_flip) {
  return evaluate_with(
      model.config(),
      [&](const TensorF& x, float* out) {
        const TensorF& l = model.forward(x, false);
        std::memcpy(out, l.data(), sizeof(float) * static_cast<size_t>(l.numel()));
      },
      ds, batch, tta_flip);
}

EvalResult evaluate(VitDataParallel& dp, const data::ImageDataset& ds, int64_t batch, bool tta_flip) {
  return evaluate_with(
      dp.model().config(), [&](const TensorF& x, float* out) { dp.predict(x, out); }, ds, batch, tta_flip);
}

}  // namespace qkv::train
