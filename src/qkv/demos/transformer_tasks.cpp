#include "qkv/demos/transformer_tasks.h"

#include <cctype>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "qkv/core/parallel.h"
#include "qkv/data/cmudict.h"
#include "qkv/data/dates.h"
#include "qkv/data/g2p_metrics.h"
#include "qkv/data/g2p_vocab.h"

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

// One pair per word for dev/test (its first pronunciation; scoring accepts any), every
// (word, pronunciation) pair for training. Targets keep the stress digits.
std::vector<train::SequencePair> g2p_pairs(const std::vector<data::G2pExample>& examples) {
  const data::G2pVocab graphemes = data::G2pVocab::graphemes(), phonemes = data::G2pVocab::phonemes(true);
  std::vector<train::SequencePair> out;
  for (const data::G2pExample& e : examples) out.push_back({graphemes.encode_word(e.word), phonemes.encode(e.phonemes)});
  return out;
}

std::vector<data::G2pExample> first_pronunciations(const std::vector<data::CmuWord>& words) {
  std::vector<data::G2pExample> out;
  for (const data::CmuWord& w : words) out.push_back({w.word, w.pronunciations.front()});
  return out;
}

struct CmudictTask {
  train::SequenceSplits splits;
  std::vector<data::CmuWord> dev_words, test_words;
};

CmudictTask cmudict_task(const std::string& path) {
  const data::CmuDict dict = data::read_cmudict(path);
  CmudictTask t;
  t.splits.train = g2p_pairs(data::g2p_examples(data::g2p_words(dict, data::G2pSplit::train), true));
  t.dev_words = data::g2p_words(dict, data::G2pSplit::dev);
  t.test_words = data::g2p_words(dict, data::G2pSplit::test);
  t.splits.dev = g2p_pairs(first_pronunciations(t.dev_words));
  t.splits.test = g2p_pairs(first_pronunciations(t.test_words));
  return t;
}

// WER/PER of predictions (ids) of the first predicted.size() words.
data::G2pScore g2p_score(const std::vector<data::CmuWord>& words, const models::Sequences& predicted, bool stress) {
  const data::G2pVocab phonemes = data::G2pVocab::phonemes(true);
  data::G2pScore score;
  for (size_t i = 0; i < predicted.size(); ++i)
    score.add(phonemes.decode(predicted[i]), words[i].pronunciations, stress);
  return score;
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
  QKV_CHECK(o.task == "dates" || o.task == "cmudict", "transformer: --task is '", o.task,
            "'; expected dates or cmudict");
  const auto start = Clock::now();
  const bool g2p = o.task == "cmudict";
  CmudictTask cmu;
  if (g2p) cmu = cmudict_task(o.cmudict_path);
  const train::SequenceSplits data =
      g2p ? cmu.splits : dates_splits(o.training.seed, o.train_size, o.dev_size, o.test_size);
  models::TransformerSeq2SeqConfig c = o.model;
  c.task = o.task;
  c.src_vocab = g2p ? data::G2pVocab::graphemes().size() : data::CharVocab().size();
  c.tgt_vocab = g2p ? data::G2pVocab::phonemes(true).size() : data::CharVocab().size();
  c.validate();
  train::DataParallel<models::TransformerSeq2Seq<float>> dp(o.threads, [&](int) {
    return std::make_unique<models::TransformerSeq2Seq<float>>(c, o.training.seed);
  });
  log << "transformer on " << o.task << ": " << data.train.size() << " training pairs, " << data.dev.size()
      << " dev, " << data.test.size() << " test; d_model " << c.d_model << ", " << c.encoder_layers << "+"
      << c.decoder_layers << " layers, " << c.nhead << " heads, " << dp.replicas() << " replicas\n";
  const train::Scorer scorer = [&](const std::vector<train::SequencePair>& split, const models::Sequences& pred) {
    if (g2p) {
      const data::G2pScore s = g2p_score(cmu.dev_words, pred, false);
      return train::Score{1.0 - s.wer(), "dev WER " + fixed4(s.wer()) + " PER " + fixed4(s.per()) + " (no stress)"};
    }
    const double em = exact_match(split, pred);
    return train::Score{em, "dev exact match " + fixed4(em)};
  };
  train::train_transformer(dp, o.training, data, scorer, log);
  TransformerTaskResult r;
  models::DecodeOptions d;
  d.max_steps = o.training.max_decode;
  if (g2p) {
    for (int64_t beam : o.test_beams) {
      d.beam = beam;
      const models::Sequences pred = train::decode_split(dp, data.test, d, beam > 1 ? 64 : 256);
      const data::G2pScore plain = g2p_score(cmu.test_words, pred, false);
      const data::G2pScore stress = g2p_score(cmu.test_words, pred, true);
      const std::string how = beam == 1 ? "greedy" : "beam " + std::to_string(beam);
      log << "test (" << how << "): WER " << fixed4(plain.wer()) << " PER " << fixed4(plain.per())
          << " without stress; WER " << fixed4(stress.wer()) << " PER " << fixed4(stress.per()) << " with stress\n";
      if (beam == o.test_beams.front()) {
        r.test_score = plain.wer();
        r.test_per = plain.per();
      }
    }
    log << "test WER: " << fixed4(r.test_score) << "\n";
    log << "test PER: " << fixed4(r.test_per) << "\n";
  } else {
    r.test_score = exact_match(data.test, train::decode_split(dp, data.test, d));
    log << "exact match: " << fixed4(r.test_score) << "\n";
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

TransformerTranslator::TransformerTranslator(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const std::string path = std::filesystem::is_directory(dir) ? (dir / "model.safetensors").string() : model_dir;
  model_ = models::load_transformer(path);
  task_ = model_->config().task;
}

std::vector<int64_t> TransformerTranslator::encode_source(const std::string& input) const {
  QKV_CHECK(!input.empty(), "transformer: an input text is empty");
  if (task_ == "dates") return data::CharVocab().encode(input);
  std::string word = input;
  for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return data::G2pVocab::graphemes().encode_word(word);
}

std::vector<std::string> TransformerTranslator::source_tokens(const std::string& input) const {
  std::vector<std::string> out;
  for (char ch : input) out.emplace_back(1, ch);
  return out;
}

std::vector<std::string> TransformerTranslator::decode_target(const std::vector<int64_t>& ids) const {
  if (task_ == "cmudict") return data::G2pVocab::phonemes(true).decode(ids);
  std::vector<std::string> out;
  for (char ch : data::CharVocab().decode(ids)) out.emplace_back(1, ch);
  return out;
}

std::string TransformerTranslator::join(const std::vector<std::string>& tokens) const {
  std::string out;
  for (const std::string& t : tokens) out += (task_ == "cmudict" && !out.empty() ? " " : "") + t;
  return out;
}

models::Sequences TransformerTranslator::decode_ids(const std::vector<std::string>& inputs, int64_t beam, bool cache) {
  QKV_CHECK(cache || beam == 1, "transformer: decoding without the cache (--no-cache) is greedy only; --beam is ", beam,
            ", expected 1");
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
  if (!cache) return models::decode_greedy_uncached(*model_, b.src, b.src_lens, d);
  return models::decode(*model_, b.src, b.src_lens, d);
}

std::vector<std::string> TransformerTranslator::translate(const std::vector<std::string>& inputs, int64_t beam,
                                                          bool cache) {
  std::vector<std::string> out;
  for (const auto& s : decode_ids(inputs, beam, cache)) out.push_back(join(decode_target(s)));
  return out;
}

}  // namespace qkv::demos
