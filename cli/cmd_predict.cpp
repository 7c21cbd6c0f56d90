// `qkv predict CHECKPOINT IMAGE.png`: class and probabilities for one grayscale image.
#include <cstdio>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/demos/vit_attention_picture.h"
#include "qkv/demos/vit_input.h"
#include "qkv/models/vit_predict.h"

namespace {

struct PredictOptions {
  std::string checkpoint, image;
  bool invert = false;
};

int run(const PredictOptions& o) {
  auto model = qkv::models::load_vit(o.checkpoint);
  const auto& c = model->config();
  QKV_CHECK(c.channels == 1, "predict: the model expects ", c.channels, " channels; only grayscale is supported");
  const qkv::demos::VitInput input = qkv::demos::vit_input_from_png(o.image, c.image_size, o.invert);
  const qkv::models::VitPrediction p = qkv::models::vit_predict(*model, input.pixels.data());
  auto name = [&](int64_t k) { return qkv::demos::class_name(k, c.classes); };
  std::printf("class: %s (%lld), probability %.4f\n", name(p.best()).c_str(), static_cast<long long>(p.best()),
              p.probs[static_cast<size_t>(p.best())]);
  for (int64_t k : p.ranking) std::printf("  %-12s %.4f\n", name(k).c_str(), p.probs[static_cast<size_t>(k)]);
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
