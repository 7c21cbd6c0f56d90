#include "qkv/train/vit_trainer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/train/augment.h"
#include "qkv/train/mixing.h"
#include "qkv/train/vit_evaluate.h"
#include "qkv/train/vit_memory.h"
#include "qkv/train/vit_parallel.h"

namespace qkv::train {
namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t s = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
  return splitmix64(s);
}

// The options the shared trainer runs with; steps_per_epoch and warmup_steps once the data is known.
TrainerOptions trainer_options(const VitTrainOptions& o) {
  TrainerOptions t;
  t.name = "train_vit";
  t.epochs = o.epochs;
  t.lr = o.lr;
  t.min_lr = o.min_lr;
  t.adamw.beta1 = o.beta1;
  t.adamw.beta2 = o.beta2;
  t.adamw.weight_decay = o.weight_decay;
  t.clip_grad_norm = o.clip_grad_norm;
  t.out_dir = o.out_dir;
  t.resume = o.resume;
  t.stop_after = o.stop_after;
  t.progress = o.progress;
  t.eval_each_epoch = o.eval_each_epoch;
  t.run_config = o.to_json();
  t.batch_size = o.batch_size;
  t.ema.decay = o.ema;
  t.ema.warmup = o.ema_warmup;
  return t;
}

MixOptions mix_options(const VitTrainOptions& o) {
  MixOptions m;
  m.mixup_alpha = o.mixup;
  m.cutmix_alpha = o.cutmix;
  m.prob = o.mix_prob;
  return m;
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
  QKV_CHECK(o.limit_train >= 0 && o.limit_test >= 0, "train_vit: limit_train (--limit-train) is ", o.limit_train,
            " and limit_test (--limit-test) is ", o.limit_test, "; expected >= 0 (0: all)");
  QKV_CHECK(o.model.channels == 1, "train_vit: Fashion-MNIST images have 1 channel; model.channels is ",
            o.model.channels);
  mix_options(o).validate();
  trainer_options(o).validate();
}

struct VitData {
  data::ImageDataset train, test;
};

void check_dataset(const char* which, const data::ImageDataset& ds, const models::VitConfig& c) {
  QKV_CHECK(ds.count > 0, "train_vit: the ", which, " set is empty");
  QKV_CHECK(ds.rows == c.image_size && ds.cols == c.image_size, "train_vit: ", which, " images are ", ds.rows, "x",
            ds.cols, "; the model expects ", c.image_size, "x", c.image_size);
}

VitData load_data(const VitTrainOptions& o) {
  const std::string dir = o.data_dir.empty() ? data::default_fashion_mnist_dir() : o.data_dir;
  VitData d{data::load_fashion_mnist(dir, true, o.limit_train), data::load_fashion_mnist(dir, false, o.limit_test)};
  check_dataset("training", d.train, o.model);
  check_dataset("test", d.test, o.model);
  return d;
}

// Images [lo, hi) of ds.
data::ImageDataset rows_of(const data::ImageDataset& ds, int64_t lo, int64_t hi) {
  data::ImageDataset out;
  out.count = hi - lo;
  out.rows = ds.rows;
  out.cols = ds.cols;
  const int64_t px = ds.rows * ds.cols;
  out.pixels.assign(ds.pixels.begin() + lo * px, ds.pixels.begin() + hi * px);
  out.labels.assign(ds.labels.begin() + lo, ds.labels.begin() + hi);
  return out;
}

// Epoch e: the training images in the order of a Fisher–Yates shuffle drawn from Rng(mix(seed,
// e + 1)); the same generator then draws each image's augmentation, step after step.
class VitTask final : public TrainTask {
 public:
  VitTask(const VitTrainOptions& o, const VitData& data, int64_t batch)
      : o_(o),
        data_(data),
        B_(batch),
        dp_(o.model, mix(o.seed, 0xC0FFEE)),
        x_({batch, 1, o.model.image_size, o.model.image_size}),
        order_(static_cast<size_t>(data.train.count)),
        labels_(static_cast<size_t>(batch)),
        scratch_(static_cast<size_t>(o.model.image_size * o.model.image_size)),
        mix_(mix_options(o)) {
    if (mix_.enabled()) {
      unmixed_.resize(static_cast<size_t>(batch * o.model.image_size * o.model.image_size));
      targets_.resize(static_cast<size_t>(batch * o.model.classes));
    }
    const Communicator& comm = dp_.comm();
    if (comm.distributed())
      test_share_ = rows_of(data.test, data.test.count * comm.rank() / comm.size(),
                            data.test.count * (comm.rank() + 1) / comm.size());
  }

  nn::Module<float>& model() override { return dp_.model(); }
  void parameters_changed() override { dp_.sync(); }

  void begin_epoch(int64_t epoch) override {
    rng_ = Rng(mix(o_.seed, static_cast<uint64_t>(epoch) + 1));
    mix_rng_ = Rng(mix(o_.seed ^ 0x4D4958, static_cast<uint64_t>(epoch) + 1));
    std::iota(order_.begin(), order_.end(), 0);
    for (int64_t i = data_.train.count - 1; i > 0; --i)
      std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(rng_.below(static_cast<uint64_t>(i + 1)))]);
  }

  StepStats train_step(int64_t, int64_t step_in_epoch, int64_t step) override {
    const uint64_t dropout_seed = mix(o_.seed ^ 0xD5, static_cast<uint64_t>(step));
    if (mix_.enabled()) {
      fill_mixed_batch(step_in_epoch);
      return dp_.forward_backward(x_, targets_.data(), dropout_seed);
    }
    fill_batch(step_in_epoch, x_.data(), false);
    return dp_.forward_backward(x_, labels_.data(), dropout_seed, o_.label_smoothing);
  }

  // Across MPI ranks each rank evaluates its contiguous share of the test set, and the sums
  // of loss, hits and count are added over the ranks.
  std::optional<Evaluation> evaluate() override {
    Communicator& comm = dp_.comm();
    if (!comm.distributed()) {
      const EvalResult r = train::evaluate(dp_, data_.test, B_, o_.tta_flip);
      return Evaluation{r.loss, r.accuracy};
    }
    double sums[3] = {0, 0, 0};  // loss, hits, count
    if (test_share_.count > 0) {
      const EvalResult r = train::evaluate(dp_, test_share_, B_, o_.tta_flip);
      const int64_t C = o_.model.classes;
      for (int64_t c = 0; c < C; ++c) sums[1] += static_cast<double>(r.confusion[static_cast<size_t>(c * C + c)]);
      sums[0] = r.loss * static_cast<double>(r.count);
      sums[2] = static_cast<double>(r.count);
    }
    comm.allreduce_sum(sums, 3);
    return Evaluation{sums[0] / sums[2], sums[1] / sums[2]};
  }

  Metadata checkpoint_metadata() const override { return vit_file_metadata(o_.model, "qkv-vit-checkpoint"); }
  void save_model(const std::string& path) override { save_vit(path, dp_.model()); }

 private:
  // Images order[s·B .. (s+1)·B) of the epoch, each shifted by up to crop_pad pixels, maybe
  // flipped, normalised and maybe randomly erased, with their labels.
  // Across MPI ranks only this rank's rows are prepared; the other rows' random draws are made
  // too (their erasing into a scratch image), so the generator goes through the same sequence as
  // in one process and every rank's rows get the augmentation one process would give them.
  // all_rows: prepare every row (mixing needs each row's partner), into out (B, S, S).
  void fill_batch(int64_t s, float* out, bool all_rows) {
    const int64_t S = o_.model.image_size;
    const auto [lo, hi] = dp_.rank_rows(B_);
    for (int64_t i = 0; i < B_; ++i) {
      const int64_t id = order_[static_cast<size_t>(s * B_ + i)];
      int64_t dy = 0, dx = 0;
      bool flip = false;
      if (o_.crop_pad > 0) {
        dy = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(2 * o_.crop_pad + 1))) - o_.crop_pad;
        dx = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(2 * o_.crop_pad + 1))) - o_.crop_pad;
      }
      if (o_.flip) flip = rng_.below(2) == 1;
      if (!all_rows && (i < lo || i >= hi)) {
        if (o_.erase > 0.0) random_erase(scratch_.data(), S, o_.erase, rng_);
        continue;
      }
      labels_[static_cast<size_t>(i)] = data_.train.labels[static_cast<size_t>(id)];
      augment_into(data_.train.image(id), S, dy, dx, flip, out + i * S * S);
      if (o_.erase > 0.0) random_erase(out + i * S * S, S, o_.erase, rng_);
    }
  }

  // The batch of fill_batch, every row, then mixed (train/mixing.h): this rank's rows of x_ and
  // the targets of every row.
  void fill_mixed_batch(int64_t s) {
    const int64_t S = o_.model.image_size;
    const auto [lo, hi] = dp_.rank_rows(B_);
    fill_batch(s, unmixed_.data(), true);
    const MixParams p = draw_mix(mix_, S, mix_rng_);
    mix_images(unmixed_.data(), B_, S, p, lo, hi, x_.data());
    mix_targets(labels_.data(), B_, o_.model.classes, p, o_.label_smoothing, targets_.data());
  }

  const VitTrainOptions& o_;
  const VitData& data_;
  int64_t B_;
  VitDataParallel dp_;
  TensorF x_;
  std::vector<int64_t> order_, labels_;
  std::vector<float> scratch_;     // the erasing of other ranks' rows
  data::ImageDataset test_share_;  // across MPI ranks: this rank's share of the test set
  Rng rng_{0};
  MixOptions mix_;
  Rng mix_rng_{0};                 // the mixing draws, one stream per epoch
  std::vector<float> unmixed_;     // with mixing: the augmented batch (B, S, S) before mixing
  std::vector<float> targets_;     // with mixing: the soft targets (B, classes)
};

}  // namespace

VitTrainOptions default_vit_recipe() {
  VitTrainOptions o;
  o.epochs = 55;
  o.erase = 0.25;
  o.ema = 0.999;
  o.tta_flip = true;
  return o;
}

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
  if (mixup > 0) j["mixup"] = mixup;
  if (cutmix > 0) j["cutmix"] = cutmix;
  if ((mixup > 0 || cutmix > 0) && mix_prob != 1.0) j["mix_prob"] = mix_prob;
  if (ema > 0) j["ema"] = ema;
  if (ema > 0 && ema_warmup) j["ema_warmup"] = true;
  if (tta_flip) j["tta_flip"] = true;
  return j.dump();
}

VitTrainResult train_vit(const VitTrainOptions& o, std::ostream& log) {
  check_options(o);
  const VitData data = load_data(o);
  const int64_t B = std::min(o.batch_size, data.train.count);
  TrainerOptions t = trainer_options(o);
  t.batch_size = B;
  t.steps_per_epoch = data.train.count / B;
  t.warmup_steps = std::llround(std::min(o.warmup_epochs, static_cast<double>(o.epochs)) *
                                static_cast<double>(t.steps_per_epoch));
  check_vit_memory("train_vit", o.model, B, num_threads(), true, "--batch-size");
  VitTask task(o, data, B);
  Trainer trainer(task, t);
  return trainer.run(log);
}

}  // namespace qkv::train
