#include "qkv/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "qkv/core/parallel.h"
#include "qkv/train/distributed.h"
#include "qkv/train/progress.h"
#include "qkv/train/run_files.h"
#include "qkv/train/schedule.h"

namespace qkv::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs f(); once the optimizer has taken a step, an error inside the model (non-finite logits
// reaching cross_entropy) means the run diverged, and the message says so and names --lr.
template <typename F>
auto unless_diverged(const TrainerOptions& o, int64_t steps_taken, int64_t epoch, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (steps_taken == 0) throw;
    fail(o.name, ": training diverged in epoch ", epoch, " (", e.what(), "); lower the learning rate (--lr ", o.lr,
         ") or clip gradients (--clip)");
  }
}

// A diverged run stops with the parameter's name instead of writing NaN checkpoints.
void check_finite(const nn::NamedParameters<float>& params, const TrainerOptions& o, int64_t epoch) {
  for (auto& [name, p] : params) {
    const float* v = p->value.data();
    for (int64_t i = 0; i < p->value.numel(); ++i)
      QKV_CHECK(std::isfinite(v[i]), o.name, ": parameter '", name, "' became ", v[i], " in epoch ", epoch,
                "; lower the learning rate (--lr ", o.lr, ") or clip gradients (--clip)");
  }
}

AdamWOptions with_lr(AdamWOptions a, double lr) {
  a.lr = lr;
  return a;
}

std::string epoch_line(const EpochMetrics& m, const TrainerOptions& o) {
  std::ostringstream msg;
  msg << "epoch " << m.epoch << "/" << o.epochs << ": train loss " << m.train_loss << " acc " << m.train_accuracy;
  if (m.test_accuracy >= 0)
    msg << ", " << o.heldout_name << (m.ema ? " (EMA)" : "") << " loss " << m.test_loss << " acc " << m.test_accuracy;
  msg << ", " << static_cast<int64_t>(m.images_per_second) << " " << o.rate_unit;
  if (m.allreduce_seconds >= 0) msg << " (allreduce " << m.allreduce_seconds << " s)";
  msg << ", " << format_duration(m.seconds);
  return msg.str();
}

// After rank 0 resumed: its parameters, optimizer state, step and epoch to every rank. Returns the epoch.
int64_t broadcast_training_state(Communicator& comm, const nn::NamedParameters<float>& params, AdamW<float>& optimizer,
                                 int64_t epoch) {
  if (!comm.distributed()) return epoch;
  int64_t position[2] = {epoch, optimizer.steps()};
  comm.broadcast(position, 2);
  broadcast_parameters(comm, params);
  std::map<std::string, TensorF> state = optimizer.state_dict();  // the same keys, in the same order, on every rank
  for (auto& [key, t] : state) comm.broadcast(t.data(), t.numel());
  optimizer.load_state_dict(state, position[1]);
  return position[0];
}

}  // namespace

void TrainerOptions::validate() const {
  QKV_CHECK(epochs >= 1 && steps_per_epoch >= 1, name, ": epochs is ", epochs, " and steps_per_epoch is ",
            steps_per_epoch, "; expected >= 1 each");
  QKV_CHECK(std::isfinite(clip_grad_norm) && clip_grad_norm >= 0, name, ": clip_grad_norm (--clip) is ", clip_grad_norm,
            "; expected a finite number >= 0 (0: off)");
  QKV_CHECK(stop_after >= 0, name, ": stop_after (--stop-after) is ", stop_after, "; expected >= 0 (0: never)");
  QKV_CHECK(!resume || !out_dir.empty(), name, ": --resume needs an output directory (--out)");
  ema.validate();
  const int64_t ranks = world().size();
  QKV_CHECK(batch_size <= 0 || batch_size >= ranks, name, ": ", batch_option, " ", batch_size,
            " is smaller than the ", ranks, " MPI ranks (mpirun -np ", ranks,
            "); every rank needs at least one row of each batch: use fewer ranks or a larger ", batch_option);
  QKV_CHECK(batch_size <= 0 || batch_size % ranks == 0, name, ": ", batch_option, " ", batch_size,
            " is not a multiple of the ", ranks, " MPI ranks (mpirun -np ", ranks,
            "); the global batch is split evenly over the ranks: use a multiple of ", ranks);
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
    if (ema) j["test_weights"] = "ema";
  }
  if (allreduce_seconds >= 0) j["allreduce_seconds"] = allreduce_seconds;
  return j.dump();
}

Trainer::Trainer(TrainTask& task, const TrainerOptions& options)
    : task_(task), o_(options), params_(task.model().named_parameters()), optimizer_(params_, with_lr(options.adamw, options.lr)) {
  o_.validate();
  if (o_.ema.enabled()) ema_.emplace(params_, o_.ema);
}

TrainResult Trainer::run(std::ostream& primary_log) {
  Communicator& comm = world();
  std::ostream quiet(nullptr);  // the other ranks' output goes nowhere
  std::ostream& log = comm.primary() ? primary_log : quiet;
  const int64_t steps_per_epoch = o_.steps_per_epoch;
  const int64_t total_steps = steps_per_epoch * o_.epochs;
  int64_t start_epoch = 0;
  std::optional<RunFiles> files;
  if (!o_.out_dir.empty() && comm.primary()) {
    files.emplace(o_.out_dir);
    if (int n = files->remove_stale_temp_files())
      log << "removed " << n << " temporary file" << (n > 1 ? "s" : "") << " left in " << o_.out_dir
          << " by an interrupted run\n";
  }
  if (o_.resume) {
    if (comm.primary()) {
      const std::string ck = files->checkpoint();
      start_epoch = resume_from_checkpoint(ck, task_.model(), optimizer_, o_.run_config, o_.epochs, steps_per_epoch,
                                           o_.name, ema_ ? &*ema_ : nullptr)
                        .epoch;
      files->keep_metrics_up_to(start_epoch, log);
    }
    start_epoch = broadcast_training_state(comm, params_, optimizer_, start_epoch);
    if (ema_ && comm.distributed())
      for (TensorF& e : ema_->values()) comm.broadcast(e.data(), e.numel());
    task_.parameters_changed();
    if (files)
      log << "resumed from " << files->checkpoint() << " at epoch " << start_epoch << " (step " << optimizer_.steps()
        << ")\n";
  } else {
    if (files) files->start_fresh();
    if (comm.distributed()) {
      broadcast_parameters(comm, params_);
      task_.parameters_changed();
    }
    if (ema_) ema_->reset();
  }
  // The task's evaluation, of the EMA when there is one (swapped in, then back bit for bit).
  auto evaluate = [&]() -> std::optional<Evaluation> {
    if (!ema_) return task_.evaluate();
    ema_->swap();
    task_.parameters_changed();
    std::optional<Evaluation> ev;
    try {
      ev = task_.evaluate();
    } catch (...) {
      ema_->swap();
      task_.parameters_changed();
      throw;
    }
    ema_->swap();
    task_.parameters_changed();
    return ev;
  };
  if (comm.distributed()) {
    int64_t P = 0;
    for (auto& [name, p] : params_) P += p->grad.numel();
    log << "data-parallel over " << comm.size() << " MPI ranks x " << num_threads() << " thread"
        << (num_threads() > 1 ? "s" : "") << " each; gradients: " << P << " floats (" << static_cast<double>(P) * 4e-6
        << " MB), allreduced in " << (P + kDefaultBucketFloats - 1) / kDefaultBucketFloats << " bucket(s) of at most "
        << kDefaultBucketFloats * 4 / (1 << 20) << " MiB\n";
  }

  ProgressBar bar(log, comm.primary() && is_terminal(log), o_.progress && comm.primary(), o_.rate_unit);
  TrainResult result;
  const auto run_start = Clock::now();
  int64_t samples_done = 0;
  double last_test = -1;
  const int64_t end_epoch = o_.stop_after > 0 ? std::min(o_.epochs, start_epoch + o_.stop_after) : o_.epochs;
  for (int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    const auto epoch_start = Clock::now();
    const double allreduce_start = comm.allreduce_seconds();
    task_.begin_epoch(epoch);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const int64_t step = epoch * steps_per_epoch + s;
      optimizer_.set_lr(warmup_cosine_lr(step, o_.warmup_steps, total_steps, o_.lr, o_.min_lr));
      const StepStats st = unless_diverged(o_, optimizer_.steps(), epoch + 1, [&] { return task_.train_step(epoch, s, step); });
      QKV_CHECK(std::isfinite(st.loss), o_.name, ": the training loss became ", st.loss, " at epoch ", epoch + 1, " step ",
                s + 1, "; lower the learning rate (--lr ", o_.lr, ") or clip gradients (--clip)");
      if (o_.clip_grad_norm > 0) clip_grad_norm(params_, o_.clip_grad_norm);
      optimizer_.step();
      task_.parameters_changed();
      if (ema_) ema_->update(optimizer_.steps());
      loss_sum += st.loss;
      correct += st.correct;
      seen += st.count;
      samples_done += st.count;
      result.step_losses.push_back(static_cast<float>(st.loss));
      task_.after_step(step, st, optimizer_.lr());
      const double elapsed = seconds_since(run_start);
      const double per_second = static_cast<double>(samples_done) / std::max(elapsed, 1e-9);
      const double left = static_cast<double>((o_.epochs - epoch) * steps_per_epoch - s - 1) *
                          static_cast<double>(st.count) / per_second;
      bar.update(epoch + 1, o_.epochs, s + 1, steps_per_epoch, loss_sum / static_cast<double>(s + 1),
                 static_cast<double>(correct) / static_cast<double>(seen), per_second, left);
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.step = optimizer_.steps();
    m.train_loss = loss_sum / static_cast<double>(steps_per_epoch);
    m.train_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
    m.lr = optimizer_.lr();
    m.images_per_second = static_cast<double>(seen) / std::max(seconds_since(epoch_start), 1e-9);
    if (comm.distributed()) m.allreduce_seconds = comm.allreduce_seconds() - allreduce_start;
    if (o_.eval_each_epoch || epoch + 1 == o_.epochs) {
      if (auto ev = unless_diverged(o_, optimizer_.steps(), m.epoch, evaluate)) {
        m.ema = ema_.has_value();
        m.test_loss = ev->loss;
        m.test_accuracy = ev->accuracy;
        QKV_CHECK(std::isfinite(ev->loss), o_.name, ": the test loss became ", ev->loss, " after epoch ", m.epoch,
                  "; lower the learning rate (--lr ", o_.lr, ") or clip gradients (--clip)");
        last_test = ev->accuracy;
      }
    }
    m.seconds = seconds_since(run_start);
    if (o_.epoch_lines) bar.line(epoch_line(m, o_));
    result.epochs.push_back(m);
    check_finite(params_, o_, m.epoch);
    if (files) {
      files->append_metrics(m.to_json());  // before the checkpoint: see run_files.h
      write_checkpoint(files->checkpoint(), params_, optimizer_, task_.checkpoint_metadata(), o_.run_config, m.epoch,
                       ema_ ? &*ema_ : nullptr);
    }
  }
  result.steps = optimizer_.steps();
  result.finished = end_epoch == o_.epochs;
  if (result.finished && last_test < 0)
    if (auto ev = evaluate()) last_test = ev->accuracy;
  result.test_accuracy = last_test;
  if (result.finished && files) {
    if (ema_) ema_->swap();  // the model file holds the EMA
    task_.save_model(files->model());
    if (ema_) ema_->swap();
  }
  if (result.finished && ema_ && o_.end_with_ema) {
    ema_->swap();
    task_.parameters_changed();
  }
  return result;
}

}  // namespace qkv::train
