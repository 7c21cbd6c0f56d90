#include "qkv/demos/transformer_tasks.h"

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "qkv/core/parallel.h"
#include "qkv/data/dates.h"

namespace qkv::demos {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<train::SequencePair> date_pairs(const data::DateGenerator& gen, const data::CharVocab& vocab, Rng& rng,
                                            data::Split split, int64_t n) {
  std::vector<train::SequencePair> out;
  for (const data::DatePair& p : gen.sample(rng, split, n)) out.push_back({vocab.encode(p.human), vocab.encode(p.iso)});
  return out;
}

train::SequenceSplits dates_splits(uint64_t seed, int64_t train_size, int64_t dev_size, int64_t test_size) {
  data::DateGenerator gen(seed);
  data::CharVocab vocab;
  Rng rng(seed * 31 + 5);
  train::SequenceSplits s;
  s.train = date_pairs(gen, vocab, rng, data::Split::train, train_size);
  s.dev = date_pairs(gen, vocab, rng, data::Split::heldout, dev_size);
  s.test = date_pairs(gen, vocab, rng, data::Split::heldout, test_size);
  return s;
}

double exact_match(const std::vector<train::SequencePair>& split, const models::Sequences& predicted) {
  int64_t hits = 0;
  for (size_t i = 0; i < split.size(); ++i) hits += predicted[i] == split[i].tgt;
  return split.empty() ? 0.0 : static_cast<double>(hits) / static_cast<double>(split.size());
}

std::string fixed4(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(4) << v;
  return s.str();
}

}  // namespace

TransformerTaskResult run_transformer_train(const TransformerTaskOptions& o, std::ostream& log) {
  QKV_CHECK(o.task == "dates", "transformer: --task is '", o.task, "'; expected dates");
  const auto start = Clock::now();
  const train::SequenceSplits data = dates_splits(o.training.seed, o.train_size, o.dev_size, o.test_size);
  models::TransformerSeq2SeqConfig c = o.model;
  c.task = o.task;
  c.src_vocab = c.tgt_vocab = data::CharVocab().size();
  c.validate();
  train::DataParallel<models::TransformerSeq2Seq<float>> dp(o.threads, [&](int) {
    return std::make_unique<models::TransformerSeq2Seq<float>>(c, o.training.seed);
  });
  log << "transformer on " << o.task << ": " << data.train.size() << " training pairs, " << data.dev.size()
      << " dev, " << data.test.size() << " test; d_model " << c.d_model << ", " << c.encoder_layers << "+"
      << c.decoder_layers << " layers, " << c.nhead << " heads, " << dp.replicas() << " replicas\n";
  const train::Scorer scorer = [](const std::vector<train::SequencePair>& split, const models::Sequences& pred) {
    const double em = exact_match(split, pred);
    return train::Score{em, "dev exact match " + fixed4(em)};
  };
  train::train_transformer(dp, o.training, data, scorer, log);
  models::DecodeOptions d;
  d.max_steps = o.training.max_decode;
  const double em = exact_match(data.test, train::decode_split(dp, data.test, d));
  TransformerTaskResult r;
  r.test_score = em;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log << "exact match: " << fixed4(em) << "\n";
  return r;
}

TransformerTranslator::TransformerTranslator(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const std::string path = std::filesystem::is_directory(dir) ? (dir / "model.safetensors").string() : model_dir;
  model_ = models::load_transformer(path);
  task_ = model_->config().task;
  QKV_CHECK(task_ == "dates", "transformer: the model in '", model_dir, "' was trained on '", task_,
            "', which this build cannot read");
}

std::vector<int64_t> TransformerTranslator::encode_source(const std::string& input) const {
  QKV_CHECK(!input.empty(), "transformer: an input text is empty");
  return data::CharVocab().encode(input);
}

std::vector<int64_t> TransformerTranslator::encode_target(const std::string& output) const {
  return data::CharVocab().encode(output);
}

std::vector<std::string> TransformerTranslator::source_tokens(const std::string& input) const {
  std::vector<std::string> out;
  for (char ch : input) out.emplace_back(1, ch);
  return out;
}

std::vector<std::string> TransformerTranslator::target_tokens(const std::string& output) const {
  return source_tokens(output);
}

std::vector<std::string> TransformerTranslator::translate(const std::vector<std::string>& inputs, int64_t beam) {
  std::vector<train::SequencePair> pairs;
  for (const std::string& s : inputs) {
    pairs.push_back({encode_source(s), {}});
    QKV_CHECK(static_cast<int64_t>(pairs.back().src.size()) <= model_->config().max_len, "transformer: input '", s,
              "' is longer than the model's max_len=", model_->config().max_len);
  }
  std::vector<int64_t> rows(pairs.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  const train::SequenceBatch b = train::make_sequence_batch(pairs, rows);
  models::DecodeOptions d;
  d.beam = beam;
  d.max_steps = std::min<int64_t>(64, model_->config().max_len);
  const models::Sequences seqs = models::decode(*model_, b.src, b.src_lens, d);
  data::CharVocab vocab;
  std::vector<std::string> out;
  for (const auto& s : seqs) out.push_back(vocab.decode(s));
  return out;
}

}  // namespace qkv::demos
