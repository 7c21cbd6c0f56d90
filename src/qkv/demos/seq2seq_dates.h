// `qkv seq2seq`: train the attention encoder–decoder (models/seq2seq.h) to translate human
// dates into ISO 8601 (data/dates.h), measure exact match on the held-out dates, save the model
// and draw the alignment heatmap (output characters × input characters) of one example.
//
// Training: fresh batches of training-split dates every step, teacher forcing, softmax
// cross-entropy (train/cross_entropy.h), AdamW with gradient clipping (train/adamw.h), linear
// warm-up then cosine decay of the learning rate. Evaluation: greedy decoding of `eval_size`
// held-out dates; a prediction counts when all 10 characters and the <eos> are right.
// Threads: data parallel. Each of the qkv::num_threads() workers runs forward and backward
// for its slice of the batch on its own replica of the model (every kernel inside is serial,
// so the small per-step GEMMs never wait on each other); the replicas' gradients are summed,
// one AdamW step updates the master and its values are copied back to the replicas. The same
// seed and thread count give the same run; another thread count changes only the rounding.
// A saved model is a directory holding model.safetensors (io/safetensors.h): the parameters
// under their PyTorch-style names, and the sizes and the vocabulary in its metadata.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/data/dates.h"
#include "qkv/models/seq2seq.h"

namespace qkv::demos {

// Most held-out dates one run evaluates.
inline constexpr int64_t kMaxSeq2SeqEvalSize = 1000000;

struct Seq2SeqDatesOptions {
  int64_t embed = 32;
  int64_t hidden = 64;
  int64_t attention = 32;
  int64_t steps = 1200;
  int64_t batch = 64;
  double lr = 5e-3;
  double weight_decay = 0.01;
  double clip = 1.0;
  int64_t warmup = 50;
  uint64_t seed = 0;       // initialisation, batches and the held-out split
  int64_t eval_size = 2000;
  int64_t log_every = 100;  // 0: no progress lines
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

void save_seq2seq(const std::string& dir, models::Seq2Seq<float>& model);
// Throws qkv::FileError naming the path when the directory, config or weights are missing or corrupt.
std::unique_ptr<models::Seq2Seq<float>> load_seq2seq(const std::string& dir);

// Alignment heatmap of a translation (rows: output characters, columns: input characters).
void write_alignment_heatmap(const std::string& path, const Translation& t);

}  // namespace qkv::demos
