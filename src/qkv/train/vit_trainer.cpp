#include "qkv/train/vit_trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>

#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/io/safetensors.h"
#include "qkv/train/adamw.h"
#include "qkv/train/augment.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/progress.h"
#include "qkv/train/run_files.h"
#include "qkv/train/schedule.h"
#include "qkv/train/vit_memory.h"
#include "qkv/train/vit_parallel.h"

namespace qkv::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t s = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
  return splitmix64(s);
}

void check_options(const VitTrainOptions& o) {
  o.model.validate();
  QKV_CHECK(o.epochs >= 1 && o.epochs <= kMaxEpochs, "train_vit: epochs (--epochs) is ", o.epochs,
            "; expected an integer in [1, ", kMaxEpochs, "]");
  QKV_CHECK(o.batch_size >= 1, "train_vit: batch_size (--batch-size) is ", o.batch_size, "; expected >= 1");
  QKV_CHECK(std::isfinite(o.lr) && o.lr > 0, "train_vit: lr (--lr) is ", o.lr, "; expected a finite number > 0");
  QKV_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0, "train_vit: min_lr (--min-lr) is ", o.min_lr,
            "; expected a finite number >= 0");
  QKV_CHECK(std::isfinite(o.warmup_epochs) && o.warmup_epochs >= 0, "train_vit: warmup_epochs (--warmup-epochs) is ",
            o.warmup_epochs, "; expected a finite number >= 0");
  QKV_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "train_vit: weight_decay (--weight-decay) is ",
            o.weight_decay, "; expected a finite number >= 0");
  QKV_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "train_vit: beta1 (--beta1) is ", o.beta1,
            " and beta2 (--beta2) is ", o.beta2, "; expected each in [0, 1)");
  QKV_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1, "train_vit: label_smoothing (--label-smoothing) is ",
            o.label_smoothing, "; expected [0, 1)");
  QKV_CHECK(o.erase >= 0.0 && o.erase <= 1.0, "train_vit: erase is ", o.erase,
            "; expected a probability in [0, 1]");
  QKV_CHECK(o.crop_pad >= 0 && o.crop_pad < o.model.image_size, "train_vit: crop_pad is ", o.crop_pad,
            "; expected 0 <= crop_pad < image size");
  QKV_CHECK(std::isfinite(o.clip_grad_norm) && o.clip_grad_norm >= 0, "train_vit: clip_grad_norm (--clip) is ",
            o.clip_grad_norm, "; expected a finite number >= 0 (0: off)");
  QKV_CHECK(o.limit_train >= 0 && o.limit_test >= 0, "train_vit: limit_train (--limit-train) is ", o.limit_train,
            " and limit_test (--limit-test) is ", o.limit_test, "; expected >= 0 (0: all)");
  QKV_CHECK(o.stop_after >= 0, "train_vit: stop_after (--stop-after) is ", o.stop_after, "; expected >= 0 (0: never)");
  QKV_CHECK(o.model.channels == 1, "train_vit: Fashion-MNIST images have 1 channel; model.channels is ",
            o.model.channels);
  QKV_CHECK(!o.resume || !o.out_dir.empty(), "train_vit: --resume needs an output directory (--out)");
}

// Runs f(); once the optimizer has taken a step, an error inside the model (non-finite logits
// reaching cross_entropy) means the run diverged, and the message says so and names --lr.
template <typename F>
auto unless_diverged(const VitTrainOptions& o, int64_t steps_taken, int64_t epoch, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (steps_taken == 0) throw;
    fail("train_vit: training diverged in epoch ", epoch, " (", e.what(), "); lower the learning rate (--lr ", o.lr,
         ") or clip gradients (--clip)");
  }
}

// A diverged run stops with the parameter's name instead of writing NaN checkpoints.
void check_finite(const nn::NamedParameters<float>& params, const VitTrainOptions& o, int64_t epoch) {
  for (auto& [name, p] : params) {
    const float* v = p->value.data();
    for (int64_t i = 0; i < p->value.numel(); ++i)
      QKV_CHECK(std::isfinite(v[i]), "train_vit: parameter '", name, "' became ", v[i], " in epoch ", epoch,
                "; lower the learning rate (--lr ", o.lr, ") or clip gradients (--clip)");
  }
}

void check_dataset(const char* which, const data::ImageDataset& ds, const models::VitConfig& c) {
  QKV_CHECK(ds.count > 0, "train_vit: the ", which, " set is empty");
  QKV_CHECK(ds.rows == c.image_size && ds.cols == c.image_size, "train_vit: ", which, " images are ", ds.rows, "x",
            ds.cols, "; the model expects ", c.image_size, "x", c.image_size);
}

}  // namespace

std::string VitTrainOptions::to_json() const {
  nlohmann::json j = {{"epochs", epochs},
                      {"batch_size", batch_size},
                      {"lr", lr},
                      {"min_lr", min_lr},
                      {"warmup_epochs", warmup_epochs},
                      {"weight_decay", weight_decay},
                      {"beta1", beta1},
                      {"beta2", beta2},
                      {"clip_grad_norm", clip_grad_norm},
                      {"label_smoothing", label_smoothing},
                      {"crop_pad", crop_pad},
                      {"flip", flip},
                      {"erase", erase},
                      {"seed", seed},
                      {"limit_train", limit_train},
                      {"limit_test", limit_test},
                      {"model", nlohmann::json::parse(model.to_json())}};
  return j.dump();
}

std::string EpochMetrics::to_json() const {
  nlohmann::json j = {{"epoch", epoch},
                      {"step", step},
                      {"train_loss", train_loss},
                      {"train_accuracy", train_accuracy},
                      {"lr", lr},
                      {"images_per_second", images_per_second},
                      {"seconds", seconds}};
  if (test_accuracy >= 0) {
    j["test_loss"] = test_loss;
    j["test_accuracy"] = test_accuracy;
  }
  return j.dump();
}

void make_batch(const data::ImageDataset& ds, const int64_t* idx, int64_t count, float* out) {
  const int64_t n = ds.rows * ds.cols;
  for (int64_t i = 0; i < count; ++i) models::normalize_pixels(ds.image(idx[i]), out + i * n, n);
}

namespace {
// predict(images (n, 1, S, S), logits out (n, classes)).
template <typename Predict>
EvalResult evaluate_with(const models::VitConfig& c, Predict&& predict, const data::ImageDataset& ds, int64_t batch) {
  QKV_CHECK(ds.rows == c.image_size && ds.cols == c.image_size && c.channels == 1, "evaluate: dataset images are ",
            ds.rows, "x", ds.cols, " gray; the model expects ", c.image_size, "x", c.image_size, " with ", c.channels,
            " channel(s)");
  QKV_CHECK(batch > 0, "evaluate: batch is ", batch, "; expected > 0");
  QKV_CHECK(ds.count > 0, "evaluate: the dataset is empty; expected at least one image");
  batch = std::min(batch, ds.count);
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(c.classes * c.classes), 0);
  TensorF x({batch, 1, c.image_size, c.image_size});
  TensorF logits({batch, c.classes});
  std::vector<int64_t> idx(static_cast<size_t>(batch)), labels(static_cast<size_t>(batch));
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < ds.count; start += batch) {
    const int64_t n = std::min(batch, ds.count - start);
    std::iota(idx.begin(), idx.begin() + n, start);
    make_batch(ds, idx.data(), n, x.data());
    std::fill(x.data() + n * c.image_size * c.image_size, x.data() + x.numel(), 0.0f);
    predict(x, logits.data());
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

EvalResult evaluate(models::Vit<float>& model, const data::ImageDataset& ds, int64_t batch) {
  return evaluate_with(
      model.config(),
      [&](const TensorF& x, float* out) {
        const TensorF& l = model.forward(x, false);
        std::memcpy(out, l.data(), sizeof(float) * static_cast<size_t>(l.numel()));
      },
      ds, batch);
}

EvalResult evaluate(VitDataParallel& dp, const data::ImageDataset& ds, int64_t batch) {
  return evaluate_with(
      dp.model().config(), [&](const TensorF& x, float* out) { dp.predict(x, out); }, ds, batch);
}

VitTrainResult train_vit(const VitTrainOptions& o, std::ostream& log) {
  check_options(o);
  const std::string dir = o.data_dir.empty() ? data::default_fashion_mnist_dir() : o.data_dir;
  const data::ImageDataset train_set = data::load_fashion_mnist(dir, true, o.limit_train);
  const data::ImageDataset test_set = data::load_fashion_mnist(dir, false, o.limit_test);
  check_dataset("training", train_set, o.model);
  check_dataset("test", test_set, o.model);

  const int64_t B = std::min(o.batch_size, train_set.count);
  const int64_t steps_per_epoch = train_set.count / B;
  const int64_t total_steps = steps_per_epoch * o.epochs;
  const int64_t warmup = std::llround(std::min(o.warmup_epochs, static_cast<double>(o.epochs)) *
                                      static_cast<double>(steps_per_epoch));
  const int64_t S = o.model.image_size;
  check_vit_memory("train_vit", o.model, B, num_threads(), true, "--batch-size");

  VitDataParallel dp(o.model, mix(o.seed, 0xC0FFEE));
  models::Vit<float>& model = dp.model();
  auto params = model.named_parameters();
  AdamWOptions ao;
  ao.lr = o.lr;
  ao.beta1 = o.beta1;
  ao.beta2 = o.beta2;
  ao.weight_decay = o.weight_decay;
  AdamW<float> opt(params, ao);

  int64_t start_epoch = 0;
  std::optional<RunFiles> files;
  if (!o.out_dir.empty()) {
    files.emplace(o.out_dir);
    if (int n = files->remove_stale_temp_files())
      log << "removed " << n << " temporary file" << (n > 1 ? "s" : "") << " left in " << o.out_dir
          << " by an interrupted run\n";
  }
  if (o.resume) {
    const std::string ck = files->checkpoint();
    io::SafeTensors f = io::read_safetensors(ck);
    QKV_CHECK(f.meta("train_config") == o.to_json(), "train_vit: --resume with options that differ from the run in '",
              ck, "'\n  checkpoint: ", f.meta("train_config"), "\n  now:        ", o.to_json());
    const CheckpointPosition at = checkpoint_position(f, ck, o.epochs, steps_per_epoch);
    io::check_weights(f, o.model.parameter_shapes(), "train_vit --resume");
    std::map<std::string, TensorF> weights, state;
    for (auto& [name, p] : params) weights[name] = f.get_f32(name);
    model.load_state_dict(weights);
    for (auto& [name, t] : f.tensors)
      if (name.rfind("optim.", 0) == 0) state[name.substr(6)] = f.get_f32(name);
    opt.load_state_dict(state, at.step);
    dp.sync();
    start_epoch = at.epoch;
    files->keep_metrics_up_to(start_epoch, log);
    log << "resumed from " << ck << " at epoch " << start_epoch << " (step " << opt.steps() << ")\n";
  } else if (files) {
    files->start_fresh();
  }

  const bool interactive = &log == &std::cerr ? ::isatty(STDERR_FILENO) != 0 : (&log == &std::cout && ::isatty(STDOUT_FILENO));
  ProgressBar bar(log, interactive, o.progress);

  TensorF x({B, 1, S, S});
  std::vector<int64_t> order(static_cast<size_t>(train_set.count)), labels(static_cast<size_t>(B));
  VitTrainResult result;
  const auto run_start = Clock::now();
  int64_t images_done = 0;
  double last_test = -1;
  int64_t end_epoch = o.epochs;
  if (o.stop_after > 0) end_epoch = std::min(o.epochs, start_epoch + o.stop_after);
  for (int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const auto epoch_start = Clock::now();
    Rng rng(mix(o.seed, static_cast<uint64_t>(epoch) + 1));
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = train_set.count - 1; i > 0; --i)
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(static_cast<uint64_t>(i + 1)))]);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t step = epoch * steps_per_epoch + s;
      opt.set_lr(warmup_cosine_lr(step, warmup, total_steps, o.lr, o.min_lr));
      for (int64_t i = 0; i < B; ++i) {
        const int64_t id = order[static_cast<size_t>(s * B + i)];
        labels[static_cast<size_t>(i)] = train_set.labels[static_cast<size_t>(id)];
        int64_t dy = 0, dx = 0;
        bool flip = false;
        if (o.crop_pad > 0) {
          dy = static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * o.crop_pad + 1))) - o.crop_pad;
          dx = static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * o.crop_pad + 1))) - o.crop_pad;
        }
        if (o.flip) flip = rng.below(2) == 1;
        augment_into(train_set.image(id), S, dy, dx, flip, x.data() + i * S * S);
        if (o.erase > 0.0) random_erase(x.data() + i * S * S, S, o.erase, rng);
      }
      ShardStats ce = unless_diverged(o, opt.steps(), epoch + 1, [&] {
        return dp.forward_backward(x, labels.data(), mix(o.seed ^ 0xD5, static_cast<uint64_t>(step)),
                                   o.label_smoothing);
      });
      QKV_CHECK(std::isfinite(ce.loss), "train_vit: the training loss became ", ce.loss, " at epoch ", epoch + 1,
                " step ", s + 1, "; lower the learning rate (--lr ", o.lr, ") or clip gradients (--clip)");
      if (o.clip_grad_norm > 0) clip_grad_norm(params, o.clip_grad_norm);
      opt.step();
      dp.sync();
      loss_sum += ce.loss;
      correct += ce.correct;
      seen += B;
      images_done += B;
      result.step_losses.push_back(static_cast<float>(ce.loss));
      const double elapsed = seconds_since(run_start);
      const double ips = static_cast<double>(images_done) / std::max(elapsed, 1e-9);
      const double left = static_cast<double>((o.epochs - epoch) * steps_per_epoch - s - 1) * static_cast<double>(B) / ips;
      bar.update(epoch + 1, o.epochs, s + 1, steps_per_epoch, loss_sum / static_cast<double>(s + 1),
                 static_cast<double>(correct) / static_cast<double>(seen), ips, left);
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.step = opt.steps();
    m.train_loss = loss_sum / static_cast<double>(std::max<int64_t>(steps_per_epoch, 1));
    m.train_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
    m.lr = opt.lr();
    m.images_per_second = static_cast<double>(seen) / std::max(seconds_since(epoch_start), 1e-9);
    if (o.eval_each_epoch || epoch + 1 == o.epochs) {
      EvalResult ev = unless_diverged(o, opt.steps(), m.epoch, [&] { return evaluate(dp, test_set, B); });
      m.test_loss = ev.loss;
      m.test_accuracy = ev.accuracy;
      QKV_CHECK(std::isfinite(ev.loss), "train_vit: the test loss became ", ev.loss, " after epoch ", m.epoch,
                "; lower the learning rate (--lr ", o.lr, ") or clip gradients (--clip)");
      last_test = ev.accuracy;
    }
    m.seconds = seconds_since(run_start);
    std::ostringstream msg;
    msg << "epoch " << m.epoch << "/" << o.epochs << ": train loss " << m.train_loss << " acc " << m.train_accuracy;
    if (m.test_accuracy >= 0) msg << ", test loss " << m.test_loss << " acc " << m.test_accuracy;
    msg << ", " << static_cast<int64_t>(m.images_per_second) << " img/s, " << format_duration(m.seconds);
    bar.line(msg.str());
    result.epochs.push_back(m);
    check_finite(params, o, m.epoch);
    if (files) {
      files->append_metrics(m.to_json());  // before the checkpoint: see run_files.h
      io::SafeTensors f;
      for (auto& [name, p] : params) f.put(name, p->value);
      for (auto& [name, t] : opt.state_dict()) f.put("optim." + name, t);
      f.metadata["format"] = "qkv-vit-checkpoint";
      f.metadata["vit_config"] = o.model.to_json();
      f.metadata["train_config"] = o.to_json();
      f.metadata["epoch"] = std::to_string(epoch + 1);
      f.metadata["step"] = std::to_string(opt.steps());
      io::write_safetensors(files->checkpoint(), f);
    }
  }
  result.steps = opt.steps();
  result.finished = end_epoch == o.epochs;
  if (result.finished && last_test < 0) last_test = evaluate(dp, test_set, B).accuracy;
  result.test_accuracy = last_test;
  if (result.finished && files) models::save_vit(files->model(), model);
  return result;
}

}  // namespace qkv::train
