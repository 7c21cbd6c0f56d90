// `qkv predict CHECKPOINT IMAGE.png`: class and probabilities for one grayscale image.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>

#include "command.h"
#include "validators.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/pictures/image.h"
#include "qkv/models/vit.h"
#include "qkv/models/vit_attention.h"

namespace {

struct PredictOptions {
  std::string checkpoint, image;
  bool invert = false;
};

int run(const PredictOptions& o) {
  auto model = qkv::models::load_vit(o.checkpoint);
  const auto& c = model->config();
  QKV_CHECK(c.channels == 1, "predict: the model expects ", c.channels, " channels; only grayscale is supported");
  const int S = static_cast<int>(c.image_size);
  qkv::pictures::Image img = qkv::pictures::to_gray(qkv::pictures::read_png(o.image), S, S);
  if (o.invert)
    for (auto& p : img.pixels) p = static_cast<uint8_t>(255 - p);
  std::vector<float> x(static_cast<size_t>(S * S));
  qkv::data::normalize_pixels(img.pixels.data(), x.data(), S * S);
  qkv::TensorF batch = qkv::TensorF::from({1, 1, S, S}, x);
  const qkv::TensorF& logits = model->forward(batch, false);
  std::vector<double> p(static_cast<size_t>(c.classes));
  double zmax = *std::max_element(logits.data(), logits.data() + c.classes), sum = 0;
  for (int64_t k = 0; k < c.classes; ++k) sum += p[static_cast<size_t>(k)] = std::exp(logits[k] - zmax);
  for (auto& v : p) v /= sum;
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  const auto& names = qkv::data::fashion_mnist_classes();
  auto name = [&](size_t k) { return k < names.size() ? names[k] : "?"; };
  std::printf("class: %s (%zu), probability %.4f\n", name(order[0]), order[0], p[order[0]]);
  for (size_t k : order) std::printf("  %-12s %.4f\n", name(k), p[k]);
  return 0;
}

qkv::cli::Command reg("predict", "Classify a grayscale PNG (resized to the model's size) with a ViT checkpoint",
                      [](CLI::App& app) -> qkv::cli::Runner {
                        auto o = std::make_shared<PredictOptions>();
                        app.add_option("checkpoint", o->checkpoint, "model.safetensors")->required()->check(qkv::cli::non_empty());
                        app.add_option("image", o->image, "PNG image (gray or colour; converted to gray)")
                            ->required()
                            ->check(qkv::cli::non_empty());
                        app.add_flag("--invert", o->invert,
                                     "Invert the image first (Fashion-MNIST has light objects on black)");
                        return [o] { return run(*o); };
                      });

}  // namespace
