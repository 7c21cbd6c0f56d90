// `qkv eval CHECKPOINT`: test accuracy, loss and the confusion matrix of a trained ViT
// (--tta-flip: with test-time flip; --confusion-png FILE: the matrix as a labelled heatmap).
#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/models/vit.h"
#include "qkv/pictures/confusion.h"
#include "qkv/train/vit_memory.h"
#include "qkv/train/vit_evaluate.h"

namespace {

struct EvalOptions {
  std::string checkpoint, data_dir, confusion_png;
  int64_t limit = 0, batch = 500;
  bool tta_flip = false;
};

int run(const EvalOptions& o) {
  auto model = qkv::models::load_vit(o.checkpoint);
  qkv::train::check_vit_memory("eval", model->config(), o.batch, 1, false, "--batch");
  const std::string dir = o.data_dir.empty() ? qkv::data::default_fashion_mnist_dir() : o.data_dir;
  auto test = qkv::data::load_fashion_mnist(dir, false, o.limit);
  auto r = qkv::train::evaluate(*model, test, o.batch, o.tta_flip);
  const auto& names = qkv::data::fashion_mnist_classes();
  const int64_t C = model->config().classes;
  std::printf("%lld test images, loss %.4f\n", static_cast<long long>(r.count), r.loss);
  std::printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
  for (int64_t j = 0; j < C; ++j) std::printf(" %5lld", static_cast<long long>(j));
  std::printf("   recall\n");
  for (int64_t i = 0; i < C; ++i) {
    std::printf("%2lld %-11s", static_cast<long long>(i), i < 10 ? names[static_cast<size_t>(i)] : "");
    int64_t row = 0;
    for (int64_t j = 0; j < C; ++j) {
      std::printf(" %5lld", static_cast<long long>(r.confusion[static_cast<size_t>(i * C + j)]));
      row += r.confusion[static_cast<size_t>(i * C + j)];
    }
    std::printf("   %.3f\n", row ? static_cast<double>(r.confusion[static_cast<size_t>(i * C + i)]) / row : 0.0);
  }
  if (!o.confusion_png.empty()) {
    std::vector<std::string> labels;
    for (int64_t i = 0; i < C; ++i) labels.push_back(i < 10 ? names[static_cast<size_t>(i)] : std::to_string(i));
    char title[160];
    std::snprintf(title, sizeof title, "confusion matrix: %lld test images, accuracy %.4f%s",
                  static_cast<long long>(r.count), r.accuracy, o.tta_flip ? " (test-time flip)" : "");
    qkv::pictures::write_confusion(o.confusion_png, r.confusion, C, labels, title);
    std::printf("confusion matrix: %s\n", o.confusion_png.c_str());
  }
  std::printf("test accuracy: %.4f\n", r.accuracy);
  return 0;
}

qkv::cli::Command reg("eval", "Test accuracy and confusion matrix of a ViT checkpoint on Fashion-MNIST",
                      [](CLI::App& app) -> qkv::cli::Runner {
                        auto o = std::make_shared<EvalOptions>();
                        app.add_option("checkpoint", o->checkpoint, "model.safetensors or checkpoint.safetensors")
                            ->required()
                            ->check(qkv::cli::non_empty());
                        app.add_option("--data", o->data_dir, "Directory with the Fashion-MNIST .gz files")
                            ->check(qkv::cli::non_empty());
                        app.add_option("--limit", o->limit, "Use only the first N test images")
                            ->check(qkv::cli::int_in(0, 1000000000));
                        app.add_option("--batch", o->batch, "Batch size")->check(qkv::cli::int_in(1, 100000))->capture_default_str();
                        app.add_flag("--tta-flip", o->tta_flip,
                                     "Test-time flip: mean logits of each image and its left-right mirror");
                        app.add_option("--confusion-png", o->confusion_png,
                                       "Also draw the confusion matrix as a labelled heatmap PNG")
                            ->check(qkv::cli::non_empty());
                        return [o] { return run(*o); };
                      });

}  // namespace
