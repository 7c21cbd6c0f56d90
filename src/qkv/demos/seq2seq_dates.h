// `qkv seq2seq`: the date-translation task. Trains the attention encoder–decoder
// (models/seq2seq.h) with train/seq2seq_trainer.h to translate human dates into ISO 8601
// (data/dates.h), measures exact match on the held-out dates, saves the model
// (train::save_seq2seq) and draws the alignment heatmap (output characters × input characters)
// of one example. This file holds only the task: its data (fresh batches of training-split
// dates every step, padded to a fixed source length), the model's construction (replica 0
// initialised from the seed, one replica per data-parallel worker) and how it reports.
//
// Evaluation: greedy decoding of `eval_size` held-out dates; a prediction counts when all 10
// characters and the <eos> are right. The same seed and thread count give the same run;
// another thread count changes only the rounding.
// A saved model is a directory holding model.safetensors (io/safetensors.h): the parameters
// under their PyTorch-style names, and the sizes and the vocabulary in its metadata
// (models::load_seq2seq reads it).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/data/dates.h"
#include "qkv/models/seq2seq.h"
#include "qkv/train/seq2seq_trainer.h"

namespace qkv::demos {

// Most held-out dates one run evaluates.
inline constexpr int64_t kMaxSeq2SeqEvalSize = 1000000;

struct Seq2SeqDatesOptions {
  int64_t embed = 32;
  int64_t hidden = 64;
  int64_t attention = 32;
  train::Seq2SeqTrainOptions training;
  uint64_t seed = 0;        // initialisation, batches and the held-out split
  int64_t eval_size = 2000;
  int64_t examples = 6;     // translations printed after training
  std::string out_dir;      // save the model here (empty: do not save)
  std::string heatmap;      // alignment PNG (empty: <out_dir>/alignment.png, or none without out_dir)
  std::string example = "3 March 1999";
};

struct Translation {
  std::string input, output;
  std::vector<std::string> in_chars, out_chars;  // tick labels (output ends with <eos> when emitted)
  TensorF weights;                              // (out_chars, in_chars) attention weights
  std::string expected;                         // the reference ISO date when known (held-out examples)
};

struct Seq2SeqDatesResult {
  double exact_match = 0;
  double train_seconds = 0;
  double final_loss = 0;
  Translation example;
  std::vector<Translation> examples;  // the printed held-out examples, then `example`
};

// Trains, evaluates, prints progress and examples to `log`, saves, draws; returns the figures.
Seq2SeqDatesResult run_seq2seq_dates(const Seq2SeqDatesOptions& options, std::ostream& log);

// Greedy translation of one string with its alignment.
Translation translate(models::Seq2Seq<float>& model, const data::CharVocab& vocab, const std::string& text);
// Exact-match fraction of greedy decoding over `pairs`, in batches of `batch`; with several
// replicas (identical models) the pairs are split among that many workers.
double exact_match(const std::vector<models::Seq2Seq<float>*>& replicas, const data::CharVocab& vocab,
                   const std::vector<data::DatePair>& pairs, int64_t batch = 250);
double exact_match(models::Seq2Seq<float>& model, const data::CharVocab& vocab,
                   const std::vector<data::DatePair>& pairs, int64_t batch = 250);

// Alignment heatmap of a translation (rows: output characters, columns: input characters).
void write_alignment_heatmap(const std::string& path, const Translation& t);

}  // namespace qkv::demos
