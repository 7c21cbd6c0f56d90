#include "qkv/pictures/training_curve.h"

#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/plot.h"
#include "qkv/train/metrics_file.h"

namespace qkv::pictures {

Image render_training_curve(const std::vector<train::EpochMetrics>& epochs, const std::string& title) {
  QKV_CHECK(!epochs.empty(), "render_training_curve: no epochs; expected at least one");
  Series train_acc{.label = "train"}, test_acc{.label = "test"}, train_loss{.label = "train"},
      test_loss{.label = "test"};
  bool ema = false;
  for (const train::EpochMetrics& m : epochs) {
    const auto e = static_cast<double>(m.epoch);
    train_acc.x.push_back(e);
    train_acc.y.push_back(m.train_accuracy);
    train_loss.x.push_back(e);
    train_loss.y.push_back(m.train_loss);
    if (m.test_accuracy >= 0) {
      test_acc.x.push_back(e);
      test_acc.y.push_back(m.test_accuracy);
      test_loss.x.push_back(e);
      test_loss.y.push_back(m.test_loss);
      ema = ema || m.ema;
    }
  }
  if (ema) test_acc.label = test_loss.label = "test (EMA)";
  std::vector<Series> acc{train_acc}, loss{train_loss};
  if (!test_acc.x.empty()) {
    acc.push_back(test_acc);
    loss.push_back(test_loss);
  }
  for (std::vector<Series>* s : {&acc, &loss})
    if (s->front().x.size() == 1)  // one epoch: markers, a line needs two points
      for (Series& series : *s) series.style = SeriesStyle::scatter;
  const Image top = render_plot(acc, {.title = "accuracy", .x_label = "epoch", .y_label = "accuracy",
                                      .legend = LegendCorner::lower_right});
  const Image bottom = render_plot(loss, {.title = "loss", .x_label = "epoch", .y_label = "cross-entropy",
                                          .legend = LegendCorner::upper_right});
  return render_image_panels({{"", top}, {"", bottom}}, title, 1, 1);
}

void write_training_curve(const std::string& metrics_path, const std::string& png_path, const std::string& title) {
  write_png(png_path, render_training_curve(train::read_metrics(metrics_path), title));
}

}  // namespace qkv::pictures
