#include "qkv/demos/seq2seq_dates.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>

#include <nlohmann/json.hpp>

#include "qkv/core/memory_budget.h"
#include "qkv/core/parallel.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/io/input_file.h"
#include "qkv/io/safetensors.h"
#include "qkv/train/adamw.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/schedule.h"

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
               A = static_cast<double>(o.attention), T = 40, B = static_cast<double>(o.batch);
  const double params = 2 * V * E + 3 * (E + H) * H + 3 * (E + 2 * H) * H + 2 * H * A + A + 2 * H * V;
  const double replicas = std::max(1, num_threads());
  const double activations = B * T * (12 * H + 2 * T + A * T + 2 * V);
  check_memory("seq2seq", 4.0 * (params * (2 * replicas + 2) + 2 * activations),
               "--embed, --hidden, --attention and --batch");
}

}  // namespace

Seq2SeqDatesResult run_seq2seq_dates(const Seq2SeqDatesOptions& o, std::ostream& log) {
  QKV_CHECK(o.steps > 0 && o.batch > 0 && o.eval_size > 0, "seq2seq: steps=", o.steps, ", batch=", o.batch,
            " and eval_size=", o.eval_size, " must be positive");
  QKV_CHECK(o.warmup >= 0, "seq2seq: warmup=", o.warmup, " must not be negative");
  QKV_CHECK(o.eval_size <= kMaxSeq2SeqEvalSize, "seq2seq: eval_size (--eval-size) is ", o.eval_size,
            "; expected at most ", kMaxSeq2SeqEvalSize);
  QKV_CHECK(std::isfinite(o.lr) && o.lr > 0, "seq2seq: lr (--lr) is ", o.lr, "; expected a finite number > 0");
  QKV_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0 && std::isfinite(o.clip) && o.clip >= 0,
            "seq2seq: weight_decay=", o.weight_decay, " and clip=", o.clip, "; expected finite numbers >= 0");
  check_training_memory(o);
  const int64_t warmup = std::min(o.warmup, o.steps);
  data::CharVocab vocab;
  // Fail before training, not after: the example must be translatable and the output writable.
  QKV_CHECK(!o.example.empty(), "seq2seq: argument 'example' is empty");
  vocab.encode(o.example);
  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec || !std::filesystem::is_directory(o.out_dir))
      throw FileError(str("seq2seq: cannot create the output directory '", o.out_dir, "'", ec ? ": " + ec.message() : ""));
  }
  data::DateGenerator gen(o.seed);
  Rng init_rng(o.seed * 4 + 1), batch_rng(o.seed * 4 + 2), eval_rng(o.seed * 4 + 3);
  models::Seq2SeqConfig cfg{vocab.size(), o.embed, o.hidden, o.attention};
  models::Seq2Seq<float> model(cfg, init_rng);
  train::AdamWOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  train::AdamW<float> opt(model.named_parameters(), ao);

  int64_t n_params = 0;
  for (auto& [name, p] : model.named_parameters()) n_params += p->value.numel();
  log << "seq2seq: GRU encoder-decoder with additive attention, E=" << o.embed << " H=" << o.hidden
      << " A=" << o.attention << " (" << n_params << " parameters), " << o.steps << " steps of " << o.batch
      << " dates\n";

  // Replicas for the data-parallel workers (replica 0 is the model itself).
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), o.batch)));
  std::vector<std::unique_ptr<models::Seq2Seq<float>>> extra;
  std::vector<models::Seq2Seq<float>*> replicas{&model};
  std::vector<nn::NamedParameters<float>> replica_params{model.named_parameters()};
  for (int w = 1; w < workers; ++w) {
    Rng unused(0);
    extra.push_back(std::make_unique<models::Seq2Seq<float>>(cfg, unused));
    replicas.push_back(extra.back().get());
    replica_params.push_back(extra.back()->named_parameters());
  }
  auto sync_replicas = [&] {
    for (int w = 1; w < workers; ++w)
      for (size_t i = 0; i < replica_params[0].size(); ++i)
        replica_params[static_cast<size_t>(w)][i].second->value.copy_from(replica_params[0][i].second->value);
  };
  sync_replicas();
  log << "threads: " << workers << " data-parallel worker" << (workers > 1 ? "s" : "") << "\n";

  Seq2SeqDatesResult result;
  std::vector<TensorF> dlogits(static_cast<size_t>(workers));
  std::vector<train::CrossEntropyResult> ces(static_cast<size_t>(workers));
  double loss_avg = 0;
  int64_t correct = 0, counted = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < o.steps; ++step) {
    auto pairs = gen.sample(batch_rng, data::Split::train, o.batch);
    const size_t n = pairs.size();
    parallel_workers(workers, [&](int w, int W) {
      const size_t lo = n * static_cast<size_t>(w) / static_cast<size_t>(W);
      const size_t hi = n * static_cast<size_t>(w + 1) / static_cast<size_t>(W);
      std::vector<data::DatePair> part(pairs.begin() + static_cast<std::ptrdiff_t>(lo),
                                       pairs.begin() + static_cast<std::ptrdiff_t>(hi));
      auto b = data::make_batch(vocab, part, kSourcePad);
      auto& m = *replicas[static_cast<size_t>(w)];
      auto& dl = dlogits[static_cast<size_t>(w)];
      const TensorF& logits = m.forward(b.src, b.src_lens, b.tgt_in);
      const int64_t N = logits.dim(0) * logits.dim(1);
      ces[static_cast<size_t>(w)] = train::cross_entropy(logits.view({N, cfg.vocab}), b.tgt_out.view({N}), &dl);
      // Each slice's mean loss, weighted by its share of the batch, sums to the batch mean.
      const float share = static_cast<float>(hi - lo) / static_cast<float>(n);
      for (int64_t i = 0; i < dl.numel(); ++i) dl[i] *= share;
      m.zero_grad();
      m.backward(dl.view(logits.shape()));
    });
    double loss = 0;
    for (int w = 0; w < workers; ++w) {
      auto& ce = ces[static_cast<size_t>(w)];
      loss += ce.loss * static_cast<double>(ce.count);
      correct += ce.correct;
      counted += ce.count;
      if (w > 0) {
        for (size_t i = 0; i < replica_params[0].size(); ++i) {
          auto& g0 = replica_params[0][i].second->grad;
          const auto& gw = replica_params[static_cast<size_t>(w)][i].second->grad;
          for (int64_t k = 0; k < g0.numel(); ++k) g0[k] += gw[k];
        }
      }
    }
    loss /= static_cast<double>(n * kTargetSteps);
    QKV_CHECK(std::isfinite(loss), "seq2seq: the loss became ", loss, " at step ", step, "; lower --lr or --clip");
    train::clip_grad_norm(opt.params(), o.clip);
    opt.set_lr(train::warmup_cosine_lr(step, warmup, o.steps, o.lr, o.lr * 0.02));
    opt.step();
    sync_replicas();
    loss_avg = step == 0 ? loss : 0.95 * loss_avg + 0.05 * loss;
    if (o.log_every > 0 && ((step + 1) % o.log_every == 0 || step + 1 == o.steps)) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log << "step " << std::setw(5) << step + 1 << "  loss " << std::fixed << std::setprecision(4) << loss_avg
          << "  char acc " << std::setprecision(4) << static_cast<double>(correct) / static_cast<double>(counted)
          << "  lr " << std::scientific << std::setprecision(2) << opt.lr() << std::fixed << "  "
          << std::setprecision(1) << secs << " s\n";
      correct = counted = 0;
    }
  }
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.final_loss = loss_avg;

  auto held = gen.sample(eval_rng, data::Split::heldout, o.eval_size);
  result.exact_match = exact_match(replicas, vocab, held);
  log << std::fixed << std::setprecision(1) << "trained in " << result.train_seconds << " s; held-out dates: "
      << held.size() << "\n";
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
  if (!o.out_dir.empty()) {
    save_seq2seq(o.out_dir, model);
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

namespace qkv::demos {

void save_seq2seq(const std::string& dir, models::Seq2Seq<float>& model) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(str("save_seq2seq: cannot create directory '", dir, "': ", ec.message()));
  io::SafeTensors file;
  for (auto& [name, p] : model.named_parameters()) file.put(name, p->value);
  const auto& c = model.config();
  file.metadata["format"] = "qkv.seq2seq.dates";
  file.metadata["vocab"] = std::to_string(c.vocab);
  file.metadata["embed"] = std::to_string(c.embed);
  file.metadata["hidden"] = std::to_string(c.hidden);
  file.metadata["attention"] = std::to_string(c.attention);
  io::write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), file);
}

std::unique_ptr<models::Seq2Seq<float>> load_seq2seq(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "model.safetensors").string();
  const std::string where = "load_seq2seq: '" + io::printable_path(path) + "'";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw FileError(str(where, " does not exist; train with `qkv seq2seq --out ", io::printable_path(dir), "` first"));
  io::SafeTensors file = io::read_safetensors(path);
  data::CharVocab vocab;
  // Names, shapes and finite values are checked before the model allocates anything.
  const models::Seq2SeqConfig c = models::checked_seq2seq_config(file, vocab.size());
  const auto shapes = c.parameter_shapes();
  Rng rng(0);
  auto model = std::make_unique<models::Seq2Seq<float>>(c, rng);
  std::map<std::string, TensorF> dict;
  for (const auto& [name, shape] : shapes) dict[name] = file.get_f32(name);
  model->load_state_dict(dict);
  return model;
}

}  // namespace qkv::demos
