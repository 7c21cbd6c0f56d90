// The pictures of a training run: the curve from metrics.jsonl (pictures/training_curve.h, with
// the strict reader train/metrics_file.h) and the confusion matrix (pictures/confusion.h):
// valid PNGs of sensible size, and hostile metrics lines refused naming the line and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "qkv/core/error.h"
#include "qkv/pictures/confusion.h"
#include "qkv/pictures/training_curve.h"
#include "qkv/train/metrics_file.h"
#include "temp_dir.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

std::string metrics_lines(int epochs, bool ema) {
  std::string s;
  for (int e = 1; e <= epochs; ++e) {
    train::EpochMetrics m;
    m.epoch = e;
    m.step = 10 * e;
    m.train_loss = 1.0 / e;
    m.train_accuracy = 0.5 + 0.04 * e;
    m.test_loss = 1.1 / e;
    m.test_accuracy = 0.48 + 0.04 * e;
    m.ema = ema;
    s += m.to_json() + "\n";
  }
  return s;
}

}  // namespace

TEST(TrainingCurve, MetricsRoundTripAndThePngHasTwoPlots) {
  const fs::path dir = test::temp_dir("curve");
  write_text(dir / "metrics.jsonl", metrics_lines(5, true) + "\n");
  const auto epochs = train::read_metrics((dir / "metrics.jsonl").string());
  ASSERT_EQ(epochs.size(), 5u);
  EXPECT_EQ(epochs[2].epoch, 3);
  EXPECT_DOUBLE_EQ(epochs[2].train_accuracy, 0.5 + 0.04 * 3);
  EXPECT_DOUBLE_EQ(epochs[4].test_loss, 1.1 / 5);
  EXPECT_TRUE(epochs[0].ema);
  pictures::write_training_curve((dir / "metrics.jsonl").string(), (dir / "curve.png").string(), "run");
  const pictures::Image im = pictures::read_png((dir / "curve.png").string());
  EXPECT_GE(im.width, 800);
  EXPECT_GE(im.height, 1000) << "accuracy above loss";
  EXPECT_LE(im.height, 1300);
  // One epoch (markers, no line) and an epoch without test figures also draw.
  train::EpochMetrics only;
  only.epoch = 1;
  only.train_accuracy = 0.3;
  only.train_loss = 2;
  EXPECT_GT(pictures::render_training_curve({only}, "").width, 0);
  EXPECT_THROW(pictures::render_training_curve({}, ""), Error);
  fs::remove_all(dir);
}

TEST(TrainingCurve, HostileMetricsLinesAreRefusedNamingTheLineAndKey) {
  const fs::path dir = test::temp_dir("curve_hostile");
  const std::string good = metrics_lines(1, false);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {good + "{\"epoch\":2,\"train_loss\":1,\"train_acc", "line 2: not a JSON object"},
      {good + "[1,2]\n", "line 2: not a JSON object"},
      {good + "{\"epoch\":\"2\",\"train_loss\":1,\"train_accuracy\":0.5}\n", "line 2: \"epoch\" is \"2\""},
      {good + "{\"epoch\":3,\"train_loss\":1,\"train_accuracy\":0.5}\n", "\"epoch\" is 3; expected 2"},
      {good + "{\"epoch\":2,\"train_accuracy\":0.5}\n", "line 2: no \"train_loss\""},
      {good + "{\"epoch\":2,\"train_loss\":1e999,\"train_accuracy\":0.5}\n", "line 2: "},
      {good + "{\"epoch\":2,\"train_loss\":1,\"train_accuracy\":1.5}\n", "\"train_accuracy\" is 1.5; expected a finite number in [0, 1]"},
      {good + "{\"epoch\":2,\"train_loss\":1,\"train_accuracy\":0.5,\"test_accuracy\":0.4}\n", "no \"test_loss\""},
      {good + "{\"epoch\":0,\"train_loss\":1,\"train_accuracy\":0.5}\n", "\"epoch\" is 0"},
      {"\n\n", "has no epochs"},
  };
  for (const auto& [text, expected] : cases) {
    write_text(dir / "metrics.jsonl", text);
    try {
      pictures::write_training_curve((dir / "metrics.jsonl").string(), (dir / "curve.png").string(), "");
      FAIL() << "accepted: " << text;
    } catch (const FileError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("metrics file '" + (dir / "metrics.jsonl").string() + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << what;
    }
    EXPECT_FALSE(fs::exists(dir / "curve.png"));
  }
  EXPECT_THROW(train::read_metrics((dir / "missing.jsonl").string()), FileError);
  EXPECT_THROW(train::read_metrics(dir.string()), FileError);  // a directory
  fs::remove_all(dir);
}

TEST(ConfusionPicture, LabelledHeatmapOfRowFractionsAndHostileInputs) {
  const fs::path dir = test::temp_dir("confusion");
  std::vector<int64_t> counts(100, 3);
  for (int i = 0; i < 10; ++i) counts[static_cast<size_t>(i * 11)] = 900;
  std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  pictures::write_confusion((dir / "c.png").string(), counts, 10, names, "confusion");
  const pictures::Image im = pictures::read_png((dir / "c.png").string());
  EXPECT_GE(im.width, 600);
  EXPECT_GE(im.height, 600);
  EXPECT_LE(im.width, 1200);
  EXPECT_THROW(pictures::render_confusion(counts, 9, {}, ""), Error);
  EXPECT_THROW(pictures::render_confusion(counts, 10, {"a"}, ""), Error);
  counts[5] = -1;
  EXPECT_THROW(pictures::render_confusion(counts, 10, names, ""), Error);
  fs::remove_all(dir);
}
