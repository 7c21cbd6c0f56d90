// `qkv seq2seq`: train the date translator (encoder–decoder with additive attention), or with
// --translate translate one date with a saved model. The library does the work
// (demos/seq2seq_dates.h, train/seq2seq_trainer.h); this file only maps arguments.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "validators.h"
#include "qkv/core/parallel.h"
#include "qkv/demos/seq2seq_dates.h"
#include "qkv/demos/seq2seq_page.h"
#include "qkv/pictures/html_page.h"

namespace {

struct Options {
  qkv::demos::Seq2SeqDatesOptions train;
  std::vector<std::string> translate;
  std::string model;
  std::string html;
  int threads = 0;
};

void write_page(const std::string& path, const std::vector<qkv::demos::Translation>& examples) {
  if (path.empty()) return;
  qkv::pictures::write_text_file(path, qkv::demos::seq2seq_page_html(examples), "qkv seq2seq: --html");
  std::cerr << "wrote " << path << "\n";
}

int run(const Options& o) {
  if (o.threads > 0) qkv::set_num_threads(o.threads);
  if (!o.html.empty()) qkv::pictures::check_output_file(o.html, "qkv seq2seq: --html");
  if (!o.translate.empty()) {
    std::vector<qkv::demos::Translation> examples;
    QKV_CHECK(!o.model.empty(), "seq2seq: --translate needs --model DIR (a directory written by --out)");
    qkv::data::CharVocab vocab;
    auto model = qkv::models::load_seq2seq(o.model, vocab.size());
    for (size_t i = 0; i < o.translate.size(); ++i) {
      auto t = qkv::demos::translate(*model, vocab, o.translate[i]);
      std::cout << t.output << "\n";
      examples.push_back(t);
      if (i == 0 && !o.train.heatmap.empty()) {
        qkv::demos::write_alignment_heatmap(o.train.heatmap, t);
        std::cerr << "alignment heatmap: " << o.train.heatmap << "\n";
      }
    }
    write_page(o.html, examples);
    return 0;
  }
  auto result = qkv::demos::run_seq2seq_dates(o.train, std::cout);
  std::cout << "exact match: " << std::fixed;
  std::cout.precision(4);
  std::cout << result.exact_match << "\n";
  write_page(o.html, result.examples);
  return 0;
}

qkv::cli::Command reg(
    "seq2seq", "Train a GRU encoder-decoder with additive attention to translate dates to ISO 8601",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto o = std::make_shared<Options>();
      auto& t = o->train;
      app.add_option("--embed", t.embed, "Character embedding width E")->capture_default_str()->check(qkv::cli::int_in(1, 8192));
      app.add_option("--hidden", t.hidden, "GRU hidden width H (encoder and decoder)")
          ->capture_default_str()
          ->check(qkv::cli::int_in(1, 8192));
      app.add_option("--attention", t.attention, "Hidden width of the additive attention")
          ->capture_default_str()
          ->check(qkv::cli::int_in(1, 8192));
      app.add_option("--steps", t.training.steps, "Training steps")->capture_default_str()->check(qkv::cli::int_in(1, 10000000));
      app.add_option("--batch", t.training.batch, "Batch size")->capture_default_str()->check(qkv::cli::int_in(1, 100000));
      app.add_option("--lr", t.training.lr, "Peak learning rate (AdamW, warm-up then cosine decay)")
          ->capture_default_str()
          ->check(qkv::cli::positive_real());
      app.add_option("--weight-decay", t.training.weight_decay, "AdamW weight decay")->capture_default_str()->check(qkv::cli::non_negative_real());
      app.add_option("--clip", t.training.clip, "Gradient-norm clipping threshold (0: off)")->capture_default_str()->check(qkv::cli::non_negative_real());
      app.add_option("--warmup", t.training.warmup, "Warm-up steps")->capture_default_str()->check(qkv::cli::int_in(0, 10000000));
      app.add_option("--seed", t.seed, "Seed of initialisation, batches and the held-out split")->capture_default_str();
      app.add_option("--eval-size", t.eval_size, "Held-out dates to evaluate")
          ->capture_default_str()
          ->check(qkv::cli::int_in(1, qkv::demos::kMaxSeq2SeqEvalSize));
      app.add_option("--log-every", t.training.log_every, "Progress line every N steps (0: none)")
          ->capture_default_str()
          ->check(qkv::cli::int_in(0, 10000000));
      app.add_option("--examples", t.examples, "Example translations to print")->capture_default_str()->check(qkv::cli::int_in(0, 1000000));
      app.add_option("--out", t.out_dir, "Save the trained model (model.safetensors) in this directory")
          ->check(qkv::cli::non_empty());
      app.add_option("--heatmap", t.heatmap, "Alignment heatmap PNG (default: <out>/alignment.png)")->check(qkv::cli::non_empty());
      app.add_option("--example", t.example, "Date whose alignment is drawn")->capture_default_str()->check(qkv::cli::non_empty());
      app.add_option("--threads", o->threads,
                     "Threads = data-parallel workers (default: qkv --threads, QKV_NUM_THREADS or the cores)")
          ->check(qkv::cli::int_in(1, qkv::kMaxThreads));
      app.add_option("--translate", o->translate,
                     "Translate these dates with a saved model (needs --model); one ISO date per line; "
                     "--heatmap draws the first");
      app.add_option("--model", o->model, "Directory of a saved model (for --translate)")->check(qkv::cli::non_empty());
      app.add_option("--html", o->html,
                     "Write an interactive page of the attention (the printed examples, or the --translate inputs)")
          ->check(qkv::cli::non_empty());
      return [o] { return run(*o); };
    });

}  // namespace
