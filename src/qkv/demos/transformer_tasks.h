// `qkv transformer`: the tasks the sequence-to-sequence Transformer trains on, and how a trained
// model is used. This file holds only the tasks' data and reporting; the model is
// models/transformer_seq2seq.h, training train/transformer_trainer.h, decoding
// models/transformer_decode.h.
//
// dates: human-written dates → ISO 8601 (data/dates.h), characters in and out (one vocabulary,
//   0 <pad>, 1 <bos>, 2 <eos>); train_size training-split dates, dev_size and test_size held-out
//   dates (a date of the held-out split never appears in training, in any format), all drawn
//   from the seed. Score: exact match (all 10 characters).
// A run directory holds metrics.jsonl, checkpoint.safetensors and model.safetensors (the model
// file: weights + config, plus the task's name as metadata "task").
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/models/transformer_seq2seq.h"
#include "qkv/train/transformer_trainer.h"

namespace qkv::demos {

struct TransformerTaskOptions {
  std::string task = "dates";
  models::TransformerSeq2SeqConfig model;  // vocabularies filled in from the task
  train::TransformerTrainOptions training;
  int64_t train_size = 20000, dev_size = 500, test_size = 2000;
  int threads = 0;  // replicas (0: qkv::num_threads())
};

struct TransformerTaskResult {
  double test_score = 0;  // dates: exact match
  double seconds = 0;
};

// Trains on the task, prints the dev score per epoch and ends with the test line(s)
// ("exact match: 0.XXXX" for dates).
TransformerTaskResult run_transformer_train(const TransformerTaskOptions& options, std::ostream& log);

// A trained model and its task's vocabulary: text ↔ ids.
class TransformerTranslator {
 public:
  explicit TransformerTranslator(const std::string& model_dir);
  // One output per input (beam 1: greedy).
  std::vector<std::string> translate(const std::vector<std::string>& inputs, int64_t beam);
  // Tokens of an input and of its greedy output (for attention pictures).
  std::vector<std::string> source_tokens(const std::string& input) const;
  std::vector<std::string> target_tokens(const std::string& output) const;
  std::vector<int64_t> encode_source(const std::string& input) const;
  std::vector<int64_t> encode_target(const std::string& output) const;
  models::TransformerSeq2Seq<float>& model() { return *model_; }
  const std::string& task() const { return task_; }

 private:
  std::string task_;
  std::unique_ptr<models::TransformerSeq2Seq<float>> model_;
};

}  // namespace qkv::demos
