// The shared training machinery: data-parallel replicas (gradient sum, sync) and the trainer's
// loop (schedule, step count, stop_after, clipping off at 0) on a linear least-squares task.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <sstream>

#include "qkv/core/rng.h"
#include "qkv/nn/linear.h"
#include "qkv/train/data_parallel.h"
#include "qkv/train/schedule.h"
#include "qkv/train/trainer.h"

using namespace qkv;

namespace {

constexpr int64_t kIn = 4, kOut = 3, kRows = 10;

struct Data {
  TensorF x{{kRows, kIn}}, y{{kRows, kOut}};
  Data() {
    Rng rng(3);
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.normal());
    for (int64_t i = 0; i < y.numel(); ++i) y[i] = static_cast<float>(rng.normal());
  }
};

// Rows [r0, r1) of the mean over kRows rows of ½·|W·x + b − y|²: the shard's summed loss, and
// its share of the batch-mean gradient accumulated into the replica.
train::ShardStats squared_error(nn::Linear<float>& m, const Data& d, int64_t r0, int64_t r1) {
  const TensorF x = d.x.slice(0, r0, r1).contiguous();
  const TensorF& out = m.forward(x);
  TensorF dy({r1 - r0, kOut});
  double loss = 0;
  for (int64_t i = 0; i < r1 - r0; ++i)
    for (int64_t j = 0; j < kOut; ++j) {
      const float e = out.at({i, j}) - d.y.at({r0 + i, j});
      loss += 0.5 * static_cast<double>(e) * e;
      dy.at({i, j}) = e / static_cast<float>(kRows);
    }
  m.backward(dy);
  return {loss, 0, r1 - r0};
}

std::unique_ptr<nn::Linear<float>> make_linear(int w) {
  Rng rng(static_cast<uint64_t>(11 + w));  // different on purpose: the replicas start from replica 0
  return std::make_unique<nn::Linear<float>>(kIn, kOut, true, rng);
}

}  // namespace

TEST(DataParallelTest, ReplicasStartEqualAndTheirGradientsSumToTheWholeBatchGradient) {
  const Data d;
  train::DataParallel<nn::Linear<float>> one(1, make_linear), three(3, make_linear);
  for (int w = 1; w < 3; ++w)
    for (int64_t i = 0; i < three.model().weight.value.numel(); ++i)
      ASSERT_EQ(three.replica(w).weight.value[i], three.model().weight.value[i]);
  auto shard = [&](nn::Linear<float>& m, int, int64_t r0, int64_t r1) { return squared_error(m, d, r0, r1); };
  const train::StepStats a = one.forward_backward(kRows, shard);
  const train::StepStats b = three.forward_backward(kRows, shard);
  EXPECT_EQ(a.count, kRows);
  EXPECT_EQ(b.count, kRows);
  EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::abs(a.loss));
  const TensorF& ga = one.model().weight.grad;
  const TensorF& gb = three.model().weight.grad;
  for (int64_t i = 0; i < ga.numel(); ++i) EXPECT_NEAR(ga[i], gb[i], 1e-6f * (1.0f + std::abs(ga[i]))) << i;
  // A second step starts from zeroed gradients: the same sum again.
  three.forward_backward(kRows, shard);
  for (int64_t i = 0; i < ga.numel(); ++i) EXPECT_NEAR(ga[i], gb[i], 1e-6f * (1.0f + std::abs(ga[i]))) << i;
}

namespace {

class LinearTask final : public train::TrainTask {
 public:
  explicit LinearTask(const Data& d) : d_(d), dp_(2, make_linear) {}
  nn::Module<float>& model() override { return dp_.model(); }
  void parameters_changed() override { dp_.sync(); }
  train::StepStats train_step(int64_t, int64_t, int64_t) override {
    return dp_.forward_backward(kRows, [&](nn::Linear<float>& m, int, int64_t r0, int64_t r1) {
      return squared_error(m, d_, r0, r1);
    });
  }
  void after_step(int64_t step, const train::StepStats&, double lr) override {
    steps.push_back(step);
    lrs.push_back(lr);
    weights.push_back(dp_.model().weight.value.to_vector());
  }
  // With has_evaluation: records the weights it evaluates (with an EMA: the EMA's, swapped in).
  std::optional<train::Evaluation> evaluate() override {
    if (!has_evaluation) return std::nullopt;
    evaluated.push_back(dp_.model().weight.value.to_vector());
    return train::Evaluation{0, 0};
  }
  nn::Linear<float>& replica(int w) { return dp_.replica(w); }
  bool has_evaluation = false;
  std::vector<int64_t> steps;
  std::vector<double> lrs;
  std::vector<std::vector<float>> weights, evaluated;  // live weights after each step; evaluated ones

 private:
  const Data& d_;
  train::DataParallel<nn::Linear<float>> dp_;
};

// The linear task's trainer options: lr 0.05, no progress bar and no epoch lines.
train::TrainerOptions quiet_linear_options(int64_t epochs, int64_t steps_per_epoch) {
  train::TrainerOptions o;
  o.name = "linear";
  o.epochs = epochs;
  o.steps_per_epoch = steps_per_epoch;
  o.lr = 0.05;
  o.progress = false;
  o.epoch_lines = false;
  return o;
}

}  // namespace

TEST(TrainerTest, FollowsTheScheduleLowersTheLossAndStopsWhereAsked) {
  const Data d;
  train::TrainerOptions o;
  o.name = "linear";
  o.epochs = 4;
  o.steps_per_epoch = 5;
  o.warmup_steps = 3;
  o.lr = 0.05;
  o.min_lr = 0.001;
  o.adamw.weight_decay = 0;
  o.clip_grad_norm = 0;  // off: no error, no clipping
  o.progress = false;
  o.epoch_lines = false;
  LinearTask task(d);
  train::Trainer trainer(task, o);
  std::ostringstream log;
  const train::TrainResult r = trainer.run(log);
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.steps, 20);
  ASSERT_EQ(task.steps.size(), 20u);
  for (int64_t s = 0; s < 20; ++s) {
    EXPECT_EQ(task.steps[static_cast<size_t>(s)], s);
    EXPECT_DOUBLE_EQ(task.lrs[static_cast<size_t>(s)], train::warmup_cosine_lr(s, 3, 20, 0.05, 0.001));
  }
  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  EXPECT_EQ(r.test_accuracy, -1) << "the task has no evaluation";
  EXPECT_EQ(log.str(), "") << "no progress bar, no epoch lines";

  o.stop_after = 1;
  LinearTask stopped(d);
  const train::TrainResult s = train::Trainer(stopped, o).run(log);
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(s.steps, 5);
  EXPECT_EQ(s.epochs.size(), 1u);
}

TEST(TrainerTest, RefusesOptionsOutOfRangeNamingThem) {
  train::TrainerOptions o;
  o.name = "linear";
  o.clip_grad_norm = -1;
  try {
    o.validate();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear: clip_grad_norm (--clip) is -1"), std::string::npos) << e.what();
  }
  o.clip_grad_norm = 0;
  o.resume = true;
  EXPECT_THROW(o.validate(), Error);
}

// The EMA of the weights (train/ema.h) equals its closed form over the recorded weights
//   e_T = (Π_t d_t)·w_0 + Σ_t (1 − d_t)·(Π_{s>t} d_s)·w_t,  d_t = min(decay, (1+t)/(10+t)),
// is what each epoch evaluates, and leaves the training itself unchanged bit for bit.
TEST(TrainerTest, EmaIsEvaluatedEqualsItsClosedFormAndLeavesTrainingUnchanged) {
  const Data d;
  train::TrainerOptions o = quiet_linear_options(3, 4);
  std::ostringstream log;
  LinearTask plain(d);
  const train::TrainResult a = train::Trainer(plain, o).run(log);
  for (bool warmup : {false, true}) {
    o.ema = {0.9, warmup};
    LinearTask task(d);
    task.has_evaluation = true;
    const std::vector<float> w0 = task.model().named_parameters()[0].second->value.to_vector();
    const train::TrainResult b = train::Trainer(task, o).run(log);
    EXPECT_EQ(a.step_losses, b.step_losses) << "the EMA must not change the training";
    ASSERT_EQ(task.weights.size(), 12u);
    ASSERT_EQ(task.evaluated.size(), 3u);
    for (int64_t epoch = 1; epoch <= 3; ++epoch) {
      const int64_t T = epoch * 4;
      for (size_t k = 0; k < w0.size(); ++k) {
        double tail = 1, e = 0;  // tail = Π_{s>t} d_s, built from t = T down to 1
        for (int64_t t = T; t >= 1; --t) {
          const double dt = warmup ? std::min(0.9, (1.0 + t) / (10.0 + t)) : 0.9;
          e += (1 - dt) * tail * task.weights[static_cast<size_t>(t - 1)][k];
          tail *= dt;
        }
        e += tail * w0[k];
        EXPECT_NEAR(task.evaluated[static_cast<size_t>(epoch - 1)][k], e, 1e-6 * (1 + std::abs(e)))
            << "epoch " << epoch << " element " << k << " warmup " << warmup;
      }
    }
    // After the evaluation the live weights are back: the last recorded ones.
    EXPECT_EQ(task.model().named_parameters()[0].second->value.to_vector(), task.weights.back());
  }
  o.ema = {1.0, false};
  LinearTask bad(d);
  try {
    train::Trainer t(bad, o);
    FAIL() << "decay 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ema"), std::string::npos) << e.what();
  }
}

// With end_with_ema a finished run returns with the EMA (the last evaluated weights) in the
// model and in every replica, so a caller's own test decodes what the model file holds.
TEST(TrainerTest, EndWithEmaLeavesTheEmaInTheModelAndTheReplicas) {
  const Data d;
  train::TrainerOptions o = quiet_linear_options(2, 3);
  o.ema = {0.8, false};
  std::ostringstream log;
  for (bool end_with_ema : {false, true}) {
    o.end_with_ema = end_with_ema;
    LinearTask task(d);
    task.has_evaluation = true;
    train::Trainer(task, o).run(log);
    ASSERT_EQ(task.evaluated.size(), 2u);
    const std::vector<float> expected = end_with_ema ? task.evaluated.back() : task.weights.back();
    EXPECT_NE(task.evaluated.back(), task.weights.back()) << "the EMA must differ from the live weights here";
    EXPECT_EQ(task.model().named_parameters()[0].second->value.to_vector(), expected) << end_with_ema;
    EXPECT_EQ(task.replica(1).weight.value.to_vector(), expected) << end_with_ema;
  }
}
