// `qkv transformer`: the tasks the sequence-to-sequence Transformer trains on, and how a trained
// model is used. This file holds only the tasks' data and reporting; the model is
// models/transformer_seq2seq.h, training train/transformer_trainer.h, decoding
// models/transformer_decode.h.
//
// cmudict: English spelling → pronunciation (data/cmudict.h, Debian's festlex-cmu), the split by
//   word of data/g2p_split.h (90/5/5); training on every (word, pronunciation) pair, targets
//   with stress; dev/test decoded once per word and scored against all its pronunciations
//   (data/g2p_metrics.h: WER and PER, with and without stress).
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

// The default run (`qkv transformer train`), chosen by measurement on cmudict (README): d_model
// 128, 2+2 layers, 17 epochs, weight decay 0.1 and an EMA of the weights; 9:05 on 2 cores, test
// WER 0.2963 with beam 5 (0.3001 greedy; 0.3064 with beam 5 for seed 1).
inline models::TransformerSeq2SeqConfig default_transformer_model() {
  models::TransformerSeq2SeqConfig c;
  c.d_model = 128;
  c.nhead = 4;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dim_feedforward = 512;
  c.dropout = 0.0;
  return c;
}

inline train::TransformerTrainOptions default_transformer_training() {
  train::TransformerTrainOptions t;
  t.epochs = 17;
  t.batch = 128;
  t.lr = 3e-3;
  t.warmup = 300;
  t.weight_decay = 0.1;
  t.ema = 0.999;
  t.ema_warmup = true;  // short runs (dates) would otherwise keep a share of the random start
  t.eval_limit = 1000;
  return t;
}

struct TransformerTaskOptions {
  std::string task = "cmudict";
  models::TransformerSeq2SeqConfig model = default_transformer_model();  // vocabularies from the task
  train::TransformerTrainOptions training = default_transformer_training();
  int64_t train_size = 30000, dev_size = 500, test_size = 2000;  // dates only
  std::string cmudict_path = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";
  std::vector<int64_t> test_beams = {5, 1};  // cmudict: the test split decoded with each (the first is reported)
  int threads = 0;  // replicas (0: qkv::num_threads())
};

struct TransformerTaskResult {
  double test_score = 0;  // dates: exact match; cmudict: WER without stress
  double test_per = 0;    // cmudict: PER without stress
  double seconds = 0;
};

// Trains on the task, prints the dev score per epoch and ends with the test line(s)
// ("exact match: 0.XXXX" for dates; "test WER: 0.XXXX" and "test PER: 0.XXXX" without stress for
// cmudict, after one line per test beam with and without stress).
TransformerTaskResult run_transformer_train(const TransformerTaskOptions& options, std::ostream& log);

// A trained model and its task's vocabulary: text ↔ ids.
class TransformerTranslator {
 public:
  explicit TransformerTranslator(const std::string& model_dir);
  // One output per input (beam 1: greedy): dates as text, phonemes separated by spaces.
  // cache = false: greedy without the key/value cache, the decoder recomputed over the whole
  // prefix at every step (models::decode_greedy_uncached: the same outputs, the baseline of the
  // cache's speed-up); it needs beam 1.
  std::vector<std::string> translate(const std::vector<std::string>& inputs, int64_t beam, bool cache = true);
  models::Sequences decode_ids(const std::vector<std::string>& inputs, int64_t beam, bool cache = true);
  // Source ids and tokens of an input (cmudict: lower-cased), target tokens of output ids.
  std::vector<int64_t> encode_source(const std::string& input) const;
  std::vector<std::string> source_tokens(const std::string& input) const;
  std::vector<std::string> decode_target(const std::vector<int64_t>& ids) const;
  std::string join(const std::vector<std::string>& tokens) const;
  models::TransformerSeq2Seq<float>& model() { return *model_; }
  const std::string& task() const { return task_; }

 private:
  std::string task_;
  std::unique_ptr<models::TransformerSeq2Seq<float>> model_;
};

}  // namespace qkv::demos
