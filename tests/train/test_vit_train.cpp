// Training on the committed Fashion-MNIST fixture: learning, bit-for-bit reproducibility,
// resume == uninterrupted, checkpoints/metrics files, and the CLI commands end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "qkv/core/parallel.h"
#include "qkv/data/idx.h"
#include "qkv/io/safetensors.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/vit_evaluate.h"
#include "qkv/train/vit_trainer.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
const std::string kTiny = std::string(QKV_FIXTURES_DIR) + "/fashion-mnist-tiny";

train::VitTrainOptions tiny_run() {
  train::VitTrainOptions o;
  o.model.patch = 7;
  o.model.dim = 32;
  o.model.depth = 2;
  o.model.heads = 2;
  o.model.mlp_hidden = 64;
  o.data_dir = kTiny;
  o.epochs = 3;
  o.batch_size = 50;
  o.lr = 3e-3;
  o.warmup_epochs = 0.5;
  o.crop_pad = 0;  // no augmentation unless a test asks for it
  o.flip = false;
  o.progress = false;
  o.seed = 1;
  return o;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("qkv_vit_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::string run_cli(const std::string& args, int* status = nullptr) {
  std::string cmd = std::string(QKV_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (status) *status = WEXITSTATUS(rc);
  return out;
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  auto pos = t.rfind('\n');
  return pos == std::string::npos ? t : t.substr(pos + 1);
}
}  // namespace

TEST(VitTrain, LearnsTheFixtureWellAboveChance) {
  std::ostringstream log;
  auto o = tiny_run();
  o.epochs = 6;
  auto r = train::train_vit(o, log);
  EXPECT_EQ(r.steps, 6 * 10);
  ASSERT_EQ(r.epochs.size(), 6u);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss * 0.8);
  EXPECT_GT(r.test_accuracy, 0.5) << "chance is 0.1";
}

TEST(VitTrain, SameSeedGivesTheSameLossCurveBitForBit) {
  std::ostringstream log;
  auto o = tiny_run();
  o.epochs = 2;
  o.limit_train = 300;
  o.limit_test = 100;
  o.crop_pad = 2;
  o.flip = true;
  o.model.dropout = 0.1;
  auto a = train::train_vit(o, log);
  auto b = train::train_vit(o, log);
  ASSERT_EQ(a.step_losses.size(), 12u);
  EXPECT_EQ(a.step_losses, b.step_losses);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  o.seed = 2;
  auto c = train::train_vit(o, log);
  EXPECT_NE(a.step_losses, c.step_losses);
}

TEST(VitTrain, ResumeContinuesExactlyLikeAnUninterruptedRun) {
  std::ostringstream log;
  auto o = tiny_run();
  o.limit_train = 300;
  o.limit_test = 100;
  o.crop_pad = 1;
  o.out_dir = scratch("full").string();
  auto full = train::train_vit(o, log);
  ASSERT_TRUE(full.finished);

  auto p = o;
  p.out_dir = scratch("parts").string();
  p.stop_after = 2;
  auto first = train::train_vit(p, log);
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.steps, 12);
  auto ck = io::read_safetensors(p.out_dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.meta("epoch"), "2");
  EXPECT_EQ(ck.meta("step"), "12");
  EXPECT_TRUE(ck.contains("optim.exp_avg.blocks.1.mlp.fc2.weight"));
  p.resume = true;
  p.stop_after = 0;
  auto rest = train::train_vit(p, log);
  ASSERT_TRUE(rest.finished);
  ASSERT_EQ(rest.step_losses.size(), 6u);
  std::vector<float> tail(full.step_losses.end() - 6, full.step_losses.end());
  EXPECT_EQ(rest.step_losses, tail);
  EXPECT_EQ(rest.test_accuracy, full.test_accuracy);
  auto wa = io::read_safetensors(o.out_dir + "/model.safetensors");
  auto wb = io::read_safetensors(p.out_dir + "/model.safetensors");
  for (auto& [name, t] : wa.tensors) EXPECT_EQ(t.bytes, wb.tensors.at(name).bytes) << name;
  // One metrics line per epoch, also across the interruption.
  std::ifstream in(p.out_dir + "/metrics.jsonl");
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += !l.empty();
  EXPECT_EQ(lines, 3);
  // Resuming with other options is refused.
  p.lr = 1e-3;
  EXPECT_THROW(train::train_vit(p, log), Error);
  fs::remove_all(o.out_dir);
  fs::remove_all(p.out_dir);
}

// Mixup + cutmix + EMA (+ test-time flip): the same seed gives the same curve bit for bit, a run
// resumed from its epoch checkpoint (which holds the EMA as "ema.<name>") ends with the same
// losses, accuracy and model file (the EMA's weights) as the uninterrupted one, and the EMA does
// not change the training.
TEST(VitTrain, MixingAndEmaAreReproducibleAndResumeExactly) {
  std::ostringstream log;
  auto o = tiny_run();
  o.limit_train = 300;
  o.limit_test = 100;
  o.crop_pad = 1;
  o.mixup = 0.8;
  o.cutmix = 1.0;
  o.mix_prob = 0.9;
  o.ema = 0.9;
  o.ema_warmup = true;
  o.tta_flip = true;
  o.out_dir = scratch("mix_full").string();
  auto full = train::train_vit(o, log);
  ASSERT_TRUE(full.finished);
  EXPECT_NE(log.str().find("test (EMA) loss"), std::string::npos) << log.str();
  auto again = o;
  again.out_dir.clear();
  EXPECT_EQ(train::train_vit(again, log).step_losses, full.step_losses);
  auto no_ema = again;
  no_ema.ema = 0;
  no_ema.tta_flip = false;
  EXPECT_EQ(train::train_vit(no_ema, log).step_losses, full.step_losses) << "EMA and TTA do not change training";
  auto no_mix = no_ema;
  no_mix.mixup = no_mix.cutmix = 0;
  EXPECT_NE(train::train_vit(no_mix, log).step_losses, full.step_losses);

  auto p = o;
  p.out_dir = scratch("mix_parts").string();
  p.stop_after = 1;
  train::train_vit(p, log);
  auto ck = io::read_safetensors(p.out_dir + "/checkpoint.safetensors");
  EXPECT_TRUE(ck.contains("ema.head.weight"));
  p.resume = true;
  p.stop_after = 0;
  auto rest = train::train_vit(p, log);
  ASSERT_TRUE(rest.finished);
  std::vector<float> tail(full.step_losses.end() - 12, full.step_losses.end());
  EXPECT_EQ(rest.step_losses, tail);
  EXPECT_EQ(rest.test_accuracy, full.test_accuracy);
  auto wa = io::read_safetensors(o.out_dir + "/model.safetensors");
  auto wb = io::read_safetensors(p.out_dir + "/model.safetensors");
  for (auto& [name, t] : wa.tensors) EXPECT_EQ(t.bytes, wb.tensors.at(name).bytes) << name;
  // The model file holds the EMA: the checkpoint's "ema.<name>", not its live weights.
  auto last = io::read_safetensors(p.out_dir + "/checkpoint.safetensors");
  EXPECT_EQ(wa.tensors.at("head.weight").bytes, last.tensors.at("ema.head.weight").bytes);
  EXPECT_NE(wa.tensors.at("head.weight").bytes, last.tensors.at("head.weight").bytes);
  // Resuming with the EMA off (another train_config) is refused.
  p.ema = 0;
  EXPECT_THROW(train::train_vit(p, log), Error);
  fs::remove_all(o.out_dir);
  fs::remove_all(p.out_dir);
}

TEST(VitTrain, NewOptionsEnterTheTrainConfigOnlyWhenOnAndAreChecked) {
  auto o = tiny_run();
  const std::string plain = o.to_json();
  for (const char* key : {"mixup", "cutmix", "mix_prob", "ema", "tta_flip"})
    EXPECT_EQ(plain.find(std::string("\"") + key + "\""), std::string::npos) << key;
  o.cutmix = 1;
  o.ema = 0.99;
  EXPECT_NE(o.to_json().find("\"cutmix\":1"), std::string::npos) << o.to_json();
  EXPECT_NE(o.to_json().find("\"ema\":0.99"), std::string::npos) << o.to_json();
  std::ostringstream log;
  for (auto [field, value, name] : std::vector<std::tuple<double train::VitTrainOptions::*, double, std::string>>{
           {&train::VitTrainOptions::mixup, -0.5, "--mixup"},
           {&train::VitTrainOptions::mix_prob, 2, "--mix-prob"},
           {&train::VitTrainOptions::ema, 1.0, "--ema"}}) {
    auto bad = tiny_run();
    bad.*field = value;
    try {
      train::train_vit(bad, log);
      FAIL() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

// Test-time flip: the evaluated logits are the mean of the logits of the images and of their
// mirrors, two plain forwards.
TEST(VitEvaluate, TestTimeFlipEqualsTheMeanOfTwoForwards) {
  auto o = tiny_run();
  models::Vit<float> model(o.model, 4);
  data::ImageDataset ds = data::load_fashion_mnist(kTiny, false, 30);
  const train::EvalResult r = train::evaluate(model, ds, 30, true);
  TensorF x({30, 1, 28, 28}), flipped;
  std::vector<int64_t> idx(30);
  for (int64_t i = 0; i < 30; ++i) idx[static_cast<size_t>(i)] = i;
  data::normalized_images(ds, idx.data(), 30, x.data());
  train::flip_images(x, flipped);
  EXPECT_EQ(flipped.at({3, 0, 5, 0}), x.at({3, 0, 5, 27}));
  const TensorF a = model.forward(x, false).clone();
  const TensorF b = model.forward(flipped, false).clone();
  TensorF mean({30, o.model.classes});
  for (int64_t k = 0; k < mean.numel(); ++k) mean[k] = 0.5f * (a[k] + b[k]);
  TensorI labels({30});
  for (int64_t i = 0; i < 30; ++i) labels[i] = ds.labels[static_cast<size_t>(i)];
  const auto ce = train::cross_entropy(mean, labels);
  EXPECT_NEAR(r.loss, ce.loss, 1e-6 * ce.loss);
  EXPECT_DOUBLE_EQ(r.accuracy, static_cast<double>(ce.correct) / 30);
  const train::EvalResult plain = train::evaluate(model, ds, 30, false);
  EXPECT_NE(plain.loss, r.loss);
}

TEST(VitTrain, MissingDataGivesAFileError) {
  std::ostringstream log;
  auto o = tiny_run();
  o.data_dir = "/nonexistent/fashion";
  try {
    train::train_vit(o, log);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fashion/train-images-idx3-ubyte.gz"), std::string::npos);
  }
}

TEST(VitCli, TrainEvalPredictAttentionMapOnTheFixture) {
  fs::path out = scratch("cli");
  int rc = -1;
  std::string common = "--data " + kTiny + " --out " + out.string();
  std::string log = run_cli("--threads 2 train " + common +
                                " --epochs 2 --patch 7 --dim 32 --depth 2 --heads 2 --mlp-hidden 64 --batch-size 50"
                                " --no-progress --limit-test 200",
                            &rc);
  ASSERT_EQ(rc, 0) << log;
  std::string last = last_line(log);
  ASSERT_EQ(last.rfind("test accuracy: 0.", 0), 0u) << log;
  EXPECT_EQ(last.size(), std::string("test accuracy: 0.XXXX").size());
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  EXPECT_TRUE(fs::exists(out / "metrics.jsonl"));
  EXPECT_NE(log.find("curve: " + out.string() + "/curve.png"), std::string::npos) << log;
  EXPECT_GT(fs::file_size(out / "curve.png"), 5000u);

  std::string model = (out / "model.safetensors").string();
  std::string ev = run_cli("eval " + model + " --data " + kTiny, &rc);
  ASSERT_EQ(rc, 0) << ev;
  EXPECT_NE(ev.find("test accuracy: 0."), std::string::npos) << ev;
  EXPECT_NE(ev.find("Ankle boot"), std::string::npos) << ev;
  std::string conf = (out / "confusion.png").string();
  std::string evt = run_cli("eval " + model + " --data " + kTiny + " --tta-flip --confusion-png " + conf, &rc);
  ASSERT_EQ(rc, 0) << evt;
  EXPECT_NE(evt.find("confusion matrix: " + conf), std::string::npos) << evt;
  EXPECT_GT(fs::file_size(conf), 5000u);
  std::string cv = run_cli("curve " + out.string() + " -o " + (out / "c.png").string(), &rc);
  ASSERT_EQ(rc, 0) << cv;
  EXPECT_GT(fs::file_size(out / "c.png"), 5000u);

  std::string am = run_cli("attention-map " + model + " --data " + kTiny + " --index 3 --output " +
                               (out / "att.png").string(),
                           &rc);
  ASSERT_EQ(rc, 0) << am;
  ASSERT_TRUE(fs::exists(out / "att.png"));
  EXPECT_GT(fs::file_size(out / "att.png"), 1000u);

  std::string png = (out / "input.png").string();
  std::string ex = run_cli("attention-map " + model + " --data " + kTiny + " --index 3 --save-input " + png +
                               " --output " + (out / "att2.png").string(),
                           &rc);
  ASSERT_EQ(rc, 0) << ex;
  std::string pr = run_cli("predict " + model + " " + png, &rc);
  ASSERT_EQ(rc, 0) << pr;
  EXPECT_NE(pr.find("class: "), std::string::npos) << pr;
  EXPECT_NE(pr.find("Trouser"), std::string::npos) << pr;  // every class's probability is listed

  std::string bad = run_cli("predict " + model + " /nonexistent.png", &rc);
  EXPECT_EQ(rc, 2) << bad;
  EXPECT_NE(bad.find("/nonexistent.png"), std::string::npos) << bad;
  std::string help = run_cli("train --help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("--resume"), std::string::npos);
  fs::remove_all(out);
}
