#include "qkv/demos/seq2seq_dates.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>

#include "qkv/core/memory_budget.h"
#include "qkv/core/parallel.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/train/checkpoint.h"
#include "qkv/train/data_parallel.h"

namespace qkv::demos {
namespace {

constexpr int64_t kTargetSteps = 11;  // 10 ISO characters and <eos>
constexpr int64_t kSourcePad = 32;    // every generated date fits; fixed shapes reuse the GEMM kernels

std::vector<int64_t> row_of(const TensorI& t, int64_t b) {
  std::vector<int64_t> v(static_cast<size_t>(t.dim(1)));
  for (int64_t i = 0; i < t.dim(1); ++i) v[static_cast<size_t>(i)] = t.at({b, i});
  return v;
}

}  // namespace

Translation translate(models::Seq2Seq<float>& model, const data::CharVocab& vocab, const std::string& text) {
  QKV_CHECK(!text.empty(), "translate: argument 'text' is empty");
  QKV_CHECK(model.config().vocab == vocab.size(), "translate: the model's vocabulary has ", model.config().vocab,
            " entries; the character vocabulary has ", vocab.size());
  auto ids = vocab.encode(text);
  const int64_t Ls = static_cast<int64_t>(ids.size());
  TensorI src = TensorI::from({1, Ls}, ids);
  TensorI lens = TensorI::from({1}, {Ls});
  auto g = model.greedy(src, lens, kTargetSteps, data::CharVocab::bos, data::CharVocab::eos);
  Translation t;
  t.input = text;
  auto out = row_of(g.tokens, 0);
  t.output = vocab.decode(out);
  for (char c : text) t.in_chars.push_back(std::string(1, c));
  int64_t rows = 0;
  for (int64_t id : out) {
    if (id == data::CharVocab::pad) break;
    t.out_chars.push_back(vocab.token(id));
    ++rows;
    if (id == data::CharVocab::eos) break;
  }
  rows = std::max<int64_t>(rows, 1);
  if (t.out_chars.empty()) t.out_chars.push_back(vocab.token(out[0]));
  t.weights = TensorF({rows, Ls});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < Ls; ++j) t.weights.at({i, j}) = g.weights.at({0, i, j});
  return t;
}

double exact_match(const std::vector<models::Seq2Seq<float>*>& replicas, const data::CharVocab& vocab,
                   const std::vector<data::DatePair>& pairs, int64_t batch) {
  QKV_CHECK(!pairs.empty(), "exact_match: argument 'pairs' is empty");
  QKV_CHECK(!replicas.empty(), "exact_match: argument 'replicas' is empty");
  QKV_CHECK(batch > 0, "exact_match: argument 'batch' is ", batch, "; expected a positive size");
  const int workers = static_cast<int>(std::min<size_t>(replicas.size(), static_cast<size_t>(num_threads())));
  std::vector<int64_t> hits(static_cast<size_t>(workers), 0);
  const size_t n = pairs.size();
  parallel_workers(workers, [&](int w, int W) {
    const size_t lo = n * static_cast<size_t>(w) / static_cast<size_t>(W);
    const size_t hi = n * static_cast<size_t>(w + 1) / static_cast<size_t>(W);
    auto& model = *replicas[static_cast<size_t>(w)];
    for (size_t begin = lo; begin < hi; begin += static_cast<size_t>(batch)) {
      size_t end = std::min(hi, begin + static_cast<size_t>(batch));
      std::vector<data::DatePair> part(pairs.begin() + static_cast<std::ptrdiff_t>(begin),
                                       pairs.begin() + static_cast<std::ptrdiff_t>(end));
      auto b = data::make_batch(vocab, part, kSourcePad);
      auto g = model.greedy(b.src, b.src_lens, kTargetSteps, data::CharVocab::bos, data::CharVocab::eos);
      for (int64_t r = 0; r < static_cast<int64_t>(part.size()); ++r) {
        bool ok = true;
        for (int64_t i = 0; i < kTargetSteps && ok; ++i) ok = g.tokens.at({r, i}) == b.tgt_out.at({r, i});
        hits[static_cast<size_t>(w)] += ok;
      }
    }
  });
  int64_t total = 0;
  for (int64_t h : hits) total += h;
  return static_cast<double>(total) / static_cast<double>(n);
}

double exact_match(models::Seq2Seq<float>& model, const data::CharVocab& vocab, const std::vector<data::DatePair>& pairs,
                   int64_t batch) {
  return exact_match(std::vector<models::Seq2Seq<float>*>{&model}, vocab, pairs, batch);
}

void write_alignment_heatmap(const std::string& path, const Translation& t) {
  pictures::HeatmapPanel p = pictures::heatmap_panel(t.weights, "\"" + t.input + "\"  →  \"" + t.output + "\"");
  p.row_labels = t.out_chars;
  p.col_labels = t.in_chars;
  for (auto& l : p.col_labels)
    if (l == " ") l = "␣";
  p.row_axis = "output character";
  p.col_axis = "input character";
  pictures::HeatmapOptions o;
  o.title = "Bahdanau attention: where each output character looks";
  o.colorbar_label = "attention weight";
  o.vmin = 0.0;
  o.vmax = 1.0;
  o.annotate = false;
  pictures::write_heatmap(path, {p}, o);
}

namespace {

// Rough upper bound of a training run's memory: the parameters with their gradients on every
// data-parallel replica plus AdamW's two moments, and per source/target step the GRU states,
// gates and attention of every date in the batch (dates are at most ~40 characters).
void check_training_memory(const Seq2SeqDatesOptions& o) {
  const double V = 64, E = static_cast<double>(o.embed), H = static_cast<double>(o.hidden),
               A = static_cast<double>(o.attention), T = 40, B = static_cast<double>(o.training.batch);
  const double params = 2 * V * E + 3 * (E + H) * H + 3 * (E + 2 * H) * H + 2 * H * A + A + 2 * H * V;
  const double replicas = std::max(1, num_threads());
  const double activations = B * T * (12 * H + 2 * T + A * T + 2 * V);
  check_memory("seq2seq", 4.0 * (params * (2 * replicas + 2) + 2 * activations),
               "--embed, --hidden, --attention and --batch");
}

void check_options(const Seq2SeqDatesOptions& o) {
  o.training.validate();
  QKV_CHECK(o.eval_size > 0 && o.eval_size <= kMaxSeq2SeqEvalSize, "seq2seq: eval_size (--eval-size) is ", o.eval_size,
            "; expected an integer in [1, ", kMaxSeq2SeqEvalSize, "]");
  check_training_memory(o);
  // Fail before training, not after: the example must be translatable and the output writable.
  QKV_CHECK(!o.example.empty(), "seq2seq: argument 'example' is empty");
  data::CharVocab().encode(o.example);
  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec || !std::filesystem::is_directory(o.out_dir))
      throw FileError(str("seq2seq: cannot create the output directory '", o.out_dir, "'", ec ? ": " + ec.message() : ""));
  }
}

// One replica per data-parallel worker; replica 0 is initialised from the seed, the others
// receive its values.
std::unique_ptr<train::DataParallel<models::Seq2Seq<float>>> make_replicas(const models::Seq2SeqConfig& cfg,
                                                                           const Seq2SeqDatesOptions& o) {
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), o.training.batch)));
  Rng init_rng(o.seed * 4 + 1);
  return std::make_unique<train::DataParallel<models::Seq2Seq<float>>>(workers, [&](int w) {
    Rng unused(0);
    return std::make_unique<models::Seq2Seq<float>>(cfg, w == 0 ? init_rng : unused);
  });
}

// Prints the held-out examples and translates `o.example`.
void report_examples(const Seq2SeqDatesOptions& o, models::Seq2Seq<float>& model, const data::CharVocab& vocab,
                     const std::vector<data::DatePair>& held, Seq2SeqDatesResult& result, std::ostream& log) {
  for (int64_t i = 0; i < std::min<int64_t>(o.examples, static_cast<int64_t>(held.size())); ++i) {
    auto& p = held[static_cast<size_t>(i)];
    auto t = translate(model, vocab, p.human);
    t.expected = p.iso;
    result.examples.push_back(t);
    log << "  " << std::left << std::setw(32) << ("\"" + p.human + "\"") << std::right << " -> " << t.output
        << (t.output == p.iso ? "" : "   (expected " + p.iso + ")") << "\n";
  }
  result.example = translate(model, vocab, o.example);
  result.examples.push_back(result.example);
  log << "example: \"" << o.example << "\" -> " << result.example.output << "\n";
}

}  // namespace

Seq2SeqDatesResult run_seq2seq_dates(const Seq2SeqDatesOptions& o, std::ostream& log) {
  check_options(o);
  const data::CharVocab vocab;
  data::DateGenerator gen(o.seed);
  Rng batch_rng(o.seed * 4 + 2), eval_rng(o.seed * 4 + 3);
  const models::Seq2SeqConfig cfg{vocab.size(), o.embed, o.hidden, o.attention};
  auto dp = make_replicas(cfg, o);
  models::Seq2Seq<float>& model = dp->model();

  int64_t n_params = 0;
  for (auto& [name, p] : model.named_parameters()) n_params += p->value.numel();
  log << "seq2seq: GRU encoder-decoder with additive attention, E=" << o.embed << " H=" << o.hidden
      << " A=" << o.attention << " (" << n_params << " parameters), " << o.training.steps << " steps of "
      << o.training.batch << " dates\n";
  log << "threads: " << dp->replicas() << " data-parallel worker" << (dp->replicas() > 1 ? "s" : "") << "\n";

  std::vector<data::DatePair> pairs;
  train::SequenceBatches batches;
  batches.draw = [&](int64_t) {
    pairs = gen.sample(batch_rng, data::Split::train, o.training.batch);
    return static_cast<int64_t>(pairs.size());
  };
  batches.rows = [&](int64_t r0, int64_t r1) {
    const std::vector<data::DatePair> part(pairs.begin() + r0, pairs.begin() + r1);
    return data::make_batch(vocab, part, kSourcePad);
  };
  const train::Seq2SeqTrainResult trained = train::train_seq2seq(*dp, o.training, batches, log);

  Seq2SeqDatesResult result;
  result.train_seconds = trained.seconds;
  result.final_loss = trained.final_loss;
  auto held = gen.sample(eval_rng, data::Split::heldout, o.eval_size);
  result.exact_match = exact_match(dp->all(), vocab, held);
  log << std::fixed << std::setprecision(1) << "trained in " << result.train_seconds << " s; held-out dates: "
      << held.size() << "\n";
  report_examples(o, model, vocab, held, result, log);
  if (!o.out_dir.empty()) {
    train::save_seq2seq(o.out_dir, model);
    log << "model saved to " << o.out_dir << "\n";
  }
  std::string heatmap = o.heatmap;
  if (heatmap.empty() && !o.out_dir.empty()) heatmap = (std::filesystem::path(o.out_dir) / "alignment.png").string();
  if (!heatmap.empty()) {
    write_alignment_heatmap(heatmap, result.example);
    log << "alignment heatmap: " << heatmap << "\n";
  }
  return result;
}

}  // namespace qkv::demos
