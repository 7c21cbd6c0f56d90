// The training loop every model shares: optimizer, schedule, clipping, run files, progress.
//
// A model plugs in through a TrainTask: its model (replica 0 of a train::DataParallel, whose
// parameters the optimizer updates), one step's forward and backward (train_step: fills the
// batch of that step, leaves the gradient of the batch-mean loss in the model's parameters,
// returns the step's loss and counts), what to do after the parameters change (copy them to the
// replicas), and optionally an evaluation, the metadata of its files and per-step reporting.
//
// Per step s (0-based over the run; epoch e has steps [e·steps_per_epoch, (e+1)·steps_per_epoch)):
//   lr ← warmup_cosine_lr(s, warmup_steps, epochs·steps_per_epoch, lr, min_lr)   (train/schedule.h)
//   stats ← task.train_step(e, s − e·steps_per_epoch, s)      the loss must be finite
//   clip the global gradient norm to clip_grad_norm (0: off);  AdamW step;  task.parameters_changed()
// Per epoch: train loss = mean of the steps' losses, accuracy = Σ correct / Σ count, the task's
// evaluation (every epoch with eval_each_epoch, else after the last), a summary line
// (epoch_lines), then with an output directory (train/run_files.h) a line in metrics.jsonl and
// an atomic checkpoint (train/checkpoint.h); at the end of the run the model file. With resume
// the run continues from <out_dir>/checkpoint.safetensors exactly as the uninterrupted one.
// With ema.decay > 0 (train/ema.h) an EMA of the weights is updated after every optimizer step;
// the evaluations and the model file use the EMA (swapped into the model, then back), the epoch
// line says "test (EMA)", metrics.jsonl has "test_weights": "ema", and the checkpoint stores
// the EMA as "ema.<name>" (resume continues it exactly; across MPI ranks each rank updates it
// from the same synchronised weights, and a resume broadcasts rank 0's). With end_with_ema a
// finished run returns with the EMA in the model (parameters_changed called), so the caller's
// own test decodes the weights the model file holds.
// A diverged run (an error inside the model after the first step, a non-finite loss or
// parameter) stops with a message naming --lr and --clip instead of writing NaN checkpoints.
//
// Across MPI ranks (`mpirun -np R`, train/distributed.h; the task's train::DataParallel splits
// each global batch over the ranks and sums the gradients): every rank runs this loop on the same
// parameters; rank 0 alone prints (progress, lines, `log`) and writes the run files, and its
// parameters (after a resume: its parameters and optimizer state, read from its checkpoint) are
// broadcast to the others before the first step, so a run may resume with any R. The task's
// evaluation is called on every rank (it may use collectives). With batch_size set, validate()
// refuses a global batch that is not a positive multiple of R, naming batch_option.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/nn/parameter.h"
#include "qkv/train/adamw.h"
#include "qkv/train/checkpoint.h"
#include "qkv/train/data_parallel.h"
#include "qkv/train/ema.h"

namespace qkv::train {

struct TrainerOptions {
  std::string name = "train";  // prefix of messages ("train_vit")
  int64_t epochs = 1;
  int64_t steps_per_epoch = 1;
  int64_t warmup_steps = 0;
  double lr = 1e-3, min_lr = 0;
  AdamWOptions adamw;           // its lr is the schedule's
  double clip_grad_norm = 0;    // 0: no clipping
  std::string out_dir;          // empty: no run files
  bool resume = false;          // continue from <out_dir>/checkpoint.safetensors
  int64_t stop_after = 0;       // > 0: return after this many epochs of this invocation
  bool progress = true;         // progress bar
  bool epoch_lines = true;      // one summary line per epoch
  bool eval_each_epoch = true;  // else only after the last epoch
  std::string run_config;       // JSON of the options that change results, compared on resume
  int64_t batch_size = 0;       // the global batch, for the check against the MPI ranks (0: unchecked)
  std::string batch_option = "--batch-size";  // the option that sets it, for messages
  EmaOptions ema;               // EMA of the weights (decay 0: off)
  bool end_with_ema = false;    // a finished run leaves the EMA in the model (for the caller's tests)
  std::string rate_unit = "img/s";  // what the progress bar and the epoch lines count per second
  std::string heldout_name = "test";  // the evaluation's split, as the epoch lines name it

  // Throws qkv::Error naming the field (and the CLI option) that is out of range.
  void validate() const;
};

struct Evaluation {
  double loss = 0, accuracy = 0;
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual nn::Module<float>& model() = 0;
  virtual void begin_epoch(int64_t /*epoch*/) {}
  virtual StepStats train_step(int64_t epoch, int64_t step_in_epoch, int64_t step) = 0;
  virtual void parameters_changed() = 0;
  // Held-out loss and accuracy; nullopt: the task has none (it reports on its own).
  virtual std::optional<Evaluation> evaluate() { return std::nullopt; }
  // After each optimizer step (lr: the step's learning rate).
  virtual void after_step(int64_t /*step*/, const StepStats& /*stats*/, double /*lr*/) {}
  // Metadata of the checkpoint (format, config) and the final model file at `path`.
  virtual Metadata checkpoint_metadata() const { return {}; }
  virtual void save_model(const std::string& /*path*/) {}
};

struct EpochMetrics {
  int64_t epoch = 0, step = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = -1, lr = 0;
  double images_per_second = 0, seconds = 0;  // images: counted rows of the steps
  double allreduce_seconds = -1;              // across MPI ranks: rank 0's time in gradient allreduces this epoch
  bool ema = false;                           // the test figures are the EMA's
  std::string to_json() const;
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;  // of this run (after a resume: the remaining epochs)
  std::vector<float> step_losses;    // loss of every step taken in this run
  double test_accuracy = 0;          // after the last epoch run (-1 if not evaluated)
  int64_t steps = 0;                 // optimizer steps so far, including resumed ones
  bool finished = false;             // false when stopped early by stop_after
};

class Trainer {
 public:
  Trainer(TrainTask& task, const TrainerOptions& options);
  TrainResult run(std::ostream& log);
  AdamW<float>& optimizer() { return optimizer_; }

 private:
  TrainTask& task_;
  TrainerOptions o_;
  nn::NamedParameters<float> params_;
  AdamW<float> optimizer_;
  std::optional<WeightEma> ema_;
};

}  // namespace qkv::train
