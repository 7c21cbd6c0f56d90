// Training of the encoder–decoder (models/seq2seq.h) on the shared trainer (train/trainer.h):
// teacher forcing, softmax cross-entropy over every target position (train/cross_entropy.h),
// AdamW with global-norm clipping, linear warm-up over `warmup` steps then cosine decay to
// lr/50 at the last step; data parallel over the replicas of a train::DataParallel (each worker
// builds and runs its rows of the step's batch on its own replica; the gradients are summed, one
// AdamW step updates replica 0, its values are copied back). The same seed and thread count
// give the same run.
//
// The task supplies the data: draw(step) picks the examples of a step (serially, so a seeded
// generator gives the same batches) and returns their number n; rows(r0, r1) builds the padded
// batch of examples [r0, r1) of that step (called from the worker threads): src (b, Ls),
// src_lens (b,), tgt_in (b, Lt), tgt_out (b, Lt). The loss of a step is the mean over its n·Lt
// target positions.
// Progress: every log_every steps a line "step N  loss L  char acc A  lr R  T s" on `log`,
// with L an exponential moving average (0.95) of the step losses and A the per-character
// accuracy of the steps since the previous line.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>

#include "qkv/data/dates.h"
#include "qkv/models/seq2seq.h"
#include "qkv/train/data_parallel.h"

namespace qkv::train {

struct Seq2SeqTrainOptions {
  int64_t steps = 1200;
  int64_t batch = 64;
  double lr = 5e-3;
  double weight_decay = 0.01;
  double clip = 1.0;        // global gradient norm (0: no clipping)
  int64_t warmup = 50;      // steps (at most `steps`)
  int64_t log_every = 100;  // 0: no progress lines

  // Throws qkv::Error naming the option and its value.
  void validate() const;
};

struct SequenceBatches {
  std::function<int64_t(int64_t step)> draw;
  std::function<data::DateBatch(int64_t r0, int64_t r1)> rows;
};

struct Seq2SeqTrainResult {
  double final_loss = 0;  // the moving average after the last step
  double seconds = 0;
};

Seq2SeqTrainResult train_seq2seq(DataParallel<models::Seq2Seq<float>>& dp, const Seq2SeqTrainOptions& options,
                                 const SequenceBatches& batches, std::ostream& log);

}  // namespace qkv::train
