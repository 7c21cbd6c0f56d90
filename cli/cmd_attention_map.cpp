// `qkv attention-map CHECKPOINT --index I | --image PNG`: the input with the class token's
// attention overlaid (white = attended): the last block per head and the rollout across blocks.
#include <cstdio>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/demos/vit_attention_picture.h"
#include "qkv/demos/vit_input.h"
#include "qkv/demos/vit_page.h"
#include "qkv/pictures/html_page.h"

namespace {

struct MapOptions {
  std::string checkpoint, image, data_dir, output = "attention.png", save_input, html;
  int64_t index = -1;
  int scale = 8;
  bool invert = false;
};

int run(const MapOptions& o) {
  QKV_CHECK((o.index >= 0) != !o.image.empty(), "attention-map: give exactly one of --index I or --image PNG");
  if (!o.html.empty()) qkv::pictures::check_output_file(o.html, "qkv attention-map: --html");
  auto model = qkv::models::load_vit(o.checkpoint);
  const auto& c = model->config();
  QKV_CHECK(c.channels == 1, "attention-map: only grayscale models are supported");
  const qkv::demos::VitInput input = o.index >= 0 ? qkv::demos::vit_input_from_test_set(o.data_dir, o.index, c.image_size)
                                                  : qkv::demos::vit_input_from_png(o.image, c.image_size, o.invert);
  if (!o.save_input.empty()) qkv::pictures::write_png(o.save_input, input.gray);
  const auto maps = qkv::models::vit_attention_maps(*model, input.pixels.data());
  qkv::pictures::write_png(o.output, qkv::demos::render_vit_attention_picture(input, maps, o.scale));
  const int64_t best = maps.best_class();
  std::printf("predicted: %s (%.4f)\n", qkv::demos::class_name(best, c.classes).c_str(),
              maps.probs[static_cast<size_t>(best)]);
  std::printf("wrote %s\n", o.output.c_str());
  if (!o.html.empty()) {
    qkv::pictures::write_text_file(o.html, qkv::demos::vit_page_html(*model, input), "qkv attention-map: --html");
    std::printf("wrote %s\n", o.html.c_str());
  }
  return 0;
}

qkv::cli::Command reg("attention-map", "PNG of where a ViT looks: class-token attention per head and rollout",
                      [](CLI::App& app) -> qkv::cli::Runner {
                        auto o = std::make_shared<MapOptions>();
                        app.add_option("checkpoint", o->checkpoint, "model.safetensors")->required()->check(qkv::cli::non_empty());
                        app.add_option("--index", o->index, "Index of a Fashion-MNIST test image")
                            ->check(qkv::cli::int_in(0, 1000000000));
                        app.add_option("--image", o->image, "A grayscale PNG instead of a test image")
                            ->check(qkv::cli::non_empty());
                        app.add_option("--data", o->data_dir, "Directory with the Fashion-MNIST .gz files")
                            ->check(qkv::cli::non_empty());
                        app.add_option("--output,-o", o->output, "Output PNG")->check(qkv::cli::non_empty())->capture_default_str();
                        app.add_option("--save-input", o->save_input, "Also write the 28x28 input as a PNG")->check(qkv::cli::non_empty());
                        app.add_option("--scale", o->scale, "Upscaling of each panel")->check(qkv::cli::int_in(1, 64))->capture_default_str();
                        app.add_flag("--invert", o->invert, "Invert --image first (light object on black)");
                        app.add_option("--html", o->html, "Also write an interactive page (self-contained HTML)")
                            ->check(qkv::cli::non_empty());
                        return [o] { return run(*o); };
                      });

}  // namespace
