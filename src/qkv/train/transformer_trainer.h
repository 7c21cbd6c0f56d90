// Training of the sequence-to-sequence Transformer (models/transformer_seq2seq.h) on the one
// trainer (train/trainer.h): teacher forcing, cross-entropy over every target token (<pad>
// ignored, optional label smoothing), AdamW with linear warm-up then cosine decay, global-norm
// clipping, data parallel over the replicas of a train::DataParallel, checkpoints and resume.
//
// Data: token-id pairs (source; target without <bos>/<eos>), ids 0 <pad>, 1 <bos>, 2 <eos>.
// Batches "of words by length": every epoch the training pairs are shuffled (seeded by the
// epoch), cut into chunks of 64 batches, each chunk sorted by source length and cut into batches,
// and the batches shuffled; so a batch pads little and an epoch visits every pair once.
// A batch's loss is the mean over its target tokens; each replica's gradient is scaled by its
// share of the tokens so that their sum is the gradient of the batch mean.
// After every epoch the dev split is decoded (greedy, batched over the replicas) and scored by
// the task's scorer (dates: exact match; cmudict: 1 − WER), which also prints its line.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/models/transformer_decode.h"
#include "qkv/train/data_parallel.h"

namespace qkv::train {

struct SequencePair {
  std::vector<int64_t> src, tgt;
};

struct SequenceSplits {
  std::vector<SequencePair> train, dev, test;
};

// A padded batch: src (b, S), src_lens (b,), tgt_in (b, T) = <bos> + tgt, tgt_out (b, T) =
// tgt + <eos>, tgt_lens (b,), <pad> = 0 elsewhere.
struct SequenceBatch {
  TensorI src, src_lens, tgt_in, tgt_out, tgt_lens;
};
SequenceBatch make_sequence_batch(const std::vector<SequencePair>& pairs, const std::vector<int64_t>& rows);

struct Score {
  double accuracy = 0;  // higher is better, in [0, 1]
  std::string line;     // what to print ("dev exact match 0.9950")
};
using Scorer = std::function<Score(const std::vector<SequencePair>& split, const models::Sequences& predicted)>;

struct TransformerTrainOptions {
  int64_t epochs = 10;
  int64_t batch = 128;  // sequences per step
  double lr = 1e-3;
  int64_t warmup = 200;  // steps
  double weight_decay = 0.01;
  double clip = 1.0;
  double label_smoothing = 0.0;
  double ema = 0.0;          // EMA of the weights (train/ema.h; 0: off): evaluated, saved, and left in
  bool ema_warmup = false;   // the model at the end, so the caller's test decodes it
  uint64_t seed = 0;
  int64_t eval_limit = 0;  // dev pairs decoded per epoch (0: all)
  int64_t max_decode = 64;
  std::string out_dir;
  bool resume = false;
  bool progress = true;

  void validate() const;  // throws naming the option (--epochs, --batch, ...)
};

// Trains dp's model in place (with ema > 0 it ends holding the EMA); returns the last dev score.
Score train_transformer(DataParallel<models::TransformerSeq2Seq<float>>& dp, const TransformerTrainOptions& options,
                        const SequenceSplits& data, const Scorer& scorer, std::ostream& log);

// Decodes every pair's source of a split in batches of `batch`, shards over the replicas.
models::Sequences decode_split(DataParallel<models::TransformerSeq2Seq<float>>& dp,
                               const std::vector<SequencePair>& split, const models::DecodeOptions& options,
                               int64_t batch = 256);

// The model file: <path> with the weights and the config as metadata (format "qkv.transformer").
void save_transformer(const std::string& path, models::TransformerSeq2Seq<float>& model);

}  // namespace qkv::train
