#include "qkv/train/seq2seq_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>

#include "qkv/train/cross_entropy.h"
#include "qkv/train/trainer.h"

namespace qkv::train {
namespace {

using Clock = std::chrono::steady_clock;

class Seq2SeqTask final : public TrainTask {
 public:
  Seq2SeqTask(DataParallel<models::Seq2Seq<float>>& dp, const Seq2SeqTrainOptions& o, const SequenceBatches& batches,
              std::ostream& log)
      : dp_(dp), o_(o), batches_(batches), log_(log), dlogits_(static_cast<size_t>(dp.replicas())) {}

  nn::Module<float>& model() override { return dp_.model(); }
  void parameters_changed() override { dp_.sync(); }
  void begin_epoch(int64_t) override { t0_ = Clock::now(); }

  StepStats train_step(int64_t, int64_t, int64_t step) override {
    const int64_t n = batches_.draw(step);
    return dp_.forward_backward(n, [&](models::Seq2Seq<float>& m, int w, int64_t r0, int64_t r1) {
      const data::DateBatch b = batches_.rows(r0, r1);
      TensorF& dl = dlogits_[static_cast<size_t>(w)];
      const TensorF& logits = m.forward(b.src, b.src_lens, b.tgt_in);
      const int64_t N = logits.dim(0) * logits.dim(1);
      const CrossEntropyResult ce = cross_entropy(logits.view({N, logits.dim(2)}), b.tgt_out.view({N}), &dl);
      // Each slice's mean loss, weighted by its share of the batch, sums to the batch mean.
      const float share = static_cast<float>(r1 - r0) / static_cast<float>(n);
      for (int64_t i = 0; i < dl.numel(); ++i) dl[i] *= share;
      m.backward(dl.view(logits.shape()));
      return ShardStats{ce.loss * static_cast<double>(ce.count), ce.correct, ce.count};
    });
  }

  void after_step(int64_t step, const StepStats& st, double lr) override {
    loss_avg_ = step == 0 ? st.loss : 0.95 * loss_avg_ + 0.05 * st.loss;
    correct_ += st.correct;
    counted_ += st.count;
    if (o_.log_every > 0 && ((step + 1) % o_.log_every == 0 || step + 1 == o_.steps)) {
      const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
      log_ << "step " << std::setw(5) << step + 1 << "  loss " << std::fixed << std::setprecision(4) << loss_avg_
           << "  char acc " << std::setprecision(4) << static_cast<double>(correct_) / static_cast<double>(counted_)
           << "  lr " << std::scientific << std::setprecision(2) << lr << std::fixed << "  " << std::setprecision(1)
           << secs << " s\n";
      correct_ = counted_ = 0;
    }
  }

  double loss_avg() const { return loss_avg_; }

 private:
  DataParallel<models::Seq2Seq<float>>& dp_;
  const Seq2SeqTrainOptions& o_;
  const SequenceBatches& batches_;
  std::ostream& log_;
  std::vector<TensorF> dlogits_;
  Clock::time_point t0_ = Clock::now();
  double loss_avg_ = 0;
  int64_t correct_ = 0, counted_ = 0;
};

TrainerOptions trainer_options(const Seq2SeqTrainOptions& o) {
  TrainerOptions t;
  t.name = "seq2seq";
  t.epochs = 1;
  t.steps_per_epoch = o.steps;
  t.warmup_steps = std::min(o.warmup, o.steps);
  t.lr = o.lr;
  t.min_lr = o.lr * 0.02;
  t.adamw.weight_decay = o.weight_decay;
  t.clip_grad_norm = o.clip;
  t.progress = false;
  t.epoch_lines = false;
  t.eval_each_epoch = false;
  return t;
}

}  // namespace

void Seq2SeqTrainOptions::validate() const {
  QKV_CHECK(steps > 0 && batch > 0, "seq2seq: steps=", steps, " and batch=", batch, " must be positive");
  QKV_CHECK(warmup >= 0, "seq2seq: warmup=", warmup, " must not be negative");
  QKV_CHECK(std::isfinite(lr) && lr > 0, "seq2seq: lr (--lr) is ", lr, "; expected a finite number > 0");
  QKV_CHECK(std::isfinite(weight_decay) && weight_decay >= 0 && std::isfinite(clip) && clip >= 0,
            "seq2seq: weight_decay=", weight_decay, " and clip=", clip, "; expected finite numbers >= 0");
}

Seq2SeqTrainResult train_seq2seq(DataParallel<models::Seq2Seq<float>>& dp, const Seq2SeqTrainOptions& o,
                                 const SequenceBatches& batches, std::ostream& log) {
  o.validate();
  Seq2SeqTask task(dp, o, batches, log);
  Trainer trainer(task, trainer_options(o));
  const auto start = Clock::now();
  trainer.run(log);
  return {task.loss_avg(), std::chrono::duration<double>(Clock::now() - start).count()};
}

}  // namespace qkv::train
