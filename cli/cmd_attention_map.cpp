// `qkv attention-map CHECKPOINT --index I | --image PNG`: the input with the class token's
// attention overlaid (white = attended): the last block per head and the rollout across blocks.
#include <cstdio>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/demos/vit_page.h"
#include "qkv/pictures/html_page.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/image.h"
#include "qkv/models/vit.h"
#include "qkv/models/vit_attention.h"

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
  const int S = static_cast<int>(c.image_size);
  const auto& names = qkv::data::fashion_mnist_classes();
  qkv::pictures::Image gray(S, S, 1, 0);
  std::string truth;
  if (o.index >= 0) {
    const std::string dir = o.data_dir.empty() ? qkv::data::default_fashion_mnist_dir() : o.data_dir;
    auto test = qkv::data::load_fashion_mnist(dir, false);
    QKV_CHECK(o.index < test.count, "attention-map: --index ", o.index, " out of range [0, ", test.count, ")");
    QKV_CHECK(test.rows == S && test.cols == S, "attention-map: dataset images are ", test.rows, "x", test.cols,
              "; the model expects ", S, "x", S);
    std::copy(test.image(o.index), test.image(o.index) + S * S, gray.pixels.begin());
    truth = names[test.labels[static_cast<size_t>(o.index)]];
  } else {
    gray = qkv::pictures::to_gray(qkv::pictures::read_png(o.image), S, S);
    if (o.invert)
      for (auto& p : gray.pixels) p = static_cast<uint8_t>(255 - p);
  }
  if (!o.save_input.empty()) qkv::pictures::write_png(o.save_input, gray);
  std::vector<float> x(static_cast<size_t>(S * S));
  qkv::data::normalize_pixels(gray.pixels.data(), x.data(), S * S);
  auto maps = qkv::models::vit_attention_maps(*model, x.data());
  size_t best = 0;
  for (size_t k = 1; k < maps.probs.size(); ++k)
    if (maps.probs[k] > maps.probs[best]) best = k;
  const int G = static_cast<int>(maps.grid);
  qkv::pictures::OverlayOptions ov;
  std::vector<qkv::pictures::ImagePanel> panels;
  panels.push_back({"input", gray});
  for (size_t h = 0; h < maps.heads.size(); ++h)
    panels.push_back({"head " + std::to_string(h), qkv::pictures::overlay_heatmap(gray, maps.heads[h], G, G, ov)});
  panels.push_back({"rollout", qkv::pictures::overlay_heatmap(gray, maps.rollout, G, G, ov)});
  char title[256];
  std::snprintf(title, sizeof title, "%spredicted %s (%.2f) - class-token attention, last block per head + rollout",
                truth.empty() ? "" : ("true " + truth + ", ").c_str(), best < names.size() ? names[best] : "?",
                maps.probs[best]);
  qkv::pictures::write_png(o.output, qkv::pictures::render_image_panels(panels, title, o.scale));
  std::printf("predicted: %s (%.4f)\n", best < names.size() ? names[best] : "?", maps.probs[best]);
  std::printf("wrote %s\n", o.output.c_str());
  if (!o.html.empty()) {
    qkv::pictures::write_text_file(o.html, qkv::demos::vit_page_html(*model, gray, truth), "qkv attention-map: --html");
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
