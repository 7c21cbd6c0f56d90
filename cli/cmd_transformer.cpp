// `qkv transformer train|translate`: the sequence-to-sequence Transformer. The library does the
// work (demos/transformer_tasks.h); this file only maps arguments.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "on_off.h"
#include "validators.h"
#include "qkv/core/parallel.h"
#include "qkv/demos/transformer_attention_picture.h"
#include "qkv/demos/transformer_tasks.h"
#include "qkv/pictures/html_page.h"
#include "qkv/train/distributed.h"

namespace {

struct TrainArgs {
  qkv::demos::TransformerTaskOptions task;
  std::string activation = "relu";
  bool post_norm = false;
};

struct TranslateArgs {
  std::string model;
  int64_t beam = 1;
  bool cache = true;
  std::vector<std::string> texts;
};

void add_train_options(CLI::App& t, TrainArgs& a) {
  auto& o = a.task;
  auto& m = o.model;
  auto& tr = o.training;
  t.add_option("--task", o.task, "Task: cmudict (spelling -> pronunciation) or dates (human dates -> ISO 8601)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cmudict", "dates"}));
  t.add_option("--cmudict", o.cmudict_path, "The CMU dictionary (Festival's cmudict-0.4.out)")
      ->capture_default_str()
      ->check(qkv::cli::non_empty());
  t.add_option("--test-beams", o.test_beams, "cmudict: decode the test split with each beam width (the first is reported)")
      ->capture_default_str()
      ->check(qkv::cli::int_in(1, 64));
  t.add_option("--out", tr.out_dir, "Run directory: metrics.jsonl, checkpoint.safetensors, model.safetensors")
      ->check(qkv::cli::non_empty());
  t.add_flag("--resume", tr.resume, "Continue the run in --out from its checkpoint");
  t.add_option("--epochs", tr.epochs, "Epochs")->capture_default_str()->check(qkv::cli::int_in(1, 100000));
  t.add_option("--batch", tr.batch, "Sequences per step")->capture_default_str()->check(qkv::cli::int_in(1, 100000));
  t.add_option("--lr", tr.lr, "Peak learning rate (AdamW; linear warm-up, cosine decay)")
      ->capture_default_str()
      ->check(qkv::cli::positive_real());
  t.add_option("--warmup", tr.warmup, "Warm-up steps")->capture_default_str()->check(qkv::cli::int_in(0, 10000000));
  t.add_option("--weight-decay", tr.weight_decay, "AdamW weight decay")->capture_default_str()->check(qkv::cli::non_negative_real());
  t.add_option("--clip", tr.clip, "Gradient-norm clipping (0: off)")->capture_default_str()->check(qkv::cli::non_negative_real());
  t.add_option("--label-smoothing", tr.label_smoothing, "Label smoothing of the cross-entropy")
      ->capture_default_str()
      ->check(qkv::cli::real_in(0.0, 0.99));
  t.add_option("--ema", tr.ema,
               "Keep an exponential moving average of the weights with this decay (0: off; e.g. 0.999); the dev "
               "and test decoding and model.safetensors use it")
      ->capture_default_str()
      ->check(qkv::cli::real_in(0, 0.999999));
  qkv::cli::add_on_off(t, "ema-warmup", tr.ema_warmup,
                       "EMA decay min(--ema, (1 + t)/(10 + t)) at step t, so the average lets go of the random start",
                       "EMA decay --ema from the first step");
  t.add_option("--seed", tr.seed, "Seed of initialisation, data and batches")->capture_default_str();
  t.add_option("--eval-limit", tr.eval_limit, "Dev pairs decoded after each epoch (0: all)")
      ->capture_default_str()
      ->check(qkv::cli::int_in(0, 100000000));
  t.add_option("--train-size", o.train_size, "Training pairs (dates)")->capture_default_str()->check(qkv::cli::int_in(1, 10000000));
  t.add_option("--dev-size", o.dev_size, "Dev pairs (dates)")->capture_default_str()->check(qkv::cli::int_in(1, 1000000));
  t.add_option("--test-size", o.test_size, "Test pairs (dates)")->capture_default_str()->check(qkv::cli::int_in(1, 1000000));
  t.add_option("--d-model", m.d_model, "Model width")->capture_default_str()->check(qkv::cli::int_in(1, 4096));
  t.add_option("--heads", m.nhead, "Attention heads")->capture_default_str()->check(qkv::cli::int_in(1, 4096));
  t.add_option("--encoder-layers", m.encoder_layers, "Encoder layers")->capture_default_str()->check(qkv::cli::int_in(0, 64));
  t.add_option("--decoder-layers", m.decoder_layers, "Decoder layers")->capture_default_str()->check(qkv::cli::int_in(1, 64));
  t.add_option("--ff", m.dim_feedforward, "Feed-forward width")->capture_default_str()->check(qkv::cli::int_in(1, 16384));
  t.add_option("--dropout", m.dropout, "Dropout")->capture_default_str()->check(qkv::cli::real_in(0.0, 0.99));
  t.add_option("--activation", a.activation, "Feed-forward activation")->capture_default_str()->check(CLI::IsMember({"relu", "gelu"}));
  t.add_flag("--post-norm", a.post_norm, "LayerNorm after each residual (the paper's); default pre-norm");
  t.add_flag("--tie-embeddings", m.tie_embeddings, "Share the target embedding with the output projection");
  t.add_flag("!--no-progress", tr.progress, "No progress bar");
  t.add_option("--threads", o.threads, "Data-parallel workers (default: qkv --threads, QKV_NUM_THREADS or the cores)")
      ->check(qkv::cli::int_in(1, qkv::kMaxThreads));
}

int run_train(TrainArgs a) {
  a.task.model.activation = a.activation;
  a.task.model.norm_first = !a.post_norm;
  if (a.task.threads > 0) qkv::set_num_threads(a.task.threads);
  std::ostream discard(nullptr);  // across MPI ranks rank 0 alone reports
  qkv::demos::run_transformer_train(a.task, qkv::train::world().primary() ? std::cout : discard);
  return 0;
}

struct AttentionArgs {
  std::string model, text, out;
  bool cross_only = false;
};

int run_attention(const AttentionArgs& a) {
  qkv::pictures::check_output_file(a.out, "qkv transformer attention: -o");
  qkv::demos::TransformerTranslator translator(a.model);
  qkv::pictures::write_png(a.out, qkv::demos::render_transformer_attention(translator, a.text, a.cross_only));
  std::cerr << "wrote " << a.out << "\n";
  return 0;
}

int run_translate(const TranslateArgs& a) {
  qkv::demos::TransformerTranslator translator(a.model);
  for (const std::string& line : translator.translate(a.texts, a.beam, a.cache)) std::cout << line << "\n";
  return 0;
}

qkv::cli::Command train_reg(
    "transformer train", "Train the Transformer on a task; ends with the test figures (cmudict: WER and PER; dates: "
    "exact match)",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto a = std::make_shared<TrainArgs>();
      add_train_options(app, *a);
      return [a] { return run_train(*a); };
    });

qkv::cli::Command translate_reg(
    "transformer translate", "Translate texts with a trained Transformer, one output per line",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto a = std::make_shared<TranslateArgs>();
      app.add_option("--model", a->model, "Run directory (or model.safetensors) of a trained model")
          ->required()
          ->check(qkv::cli::non_empty());
      app.add_option("--beam", a->beam, "Beam width (1: greedy)")->capture_default_str()->check(qkv::cli::int_in(1, 64));
      app.add_flag("!--no-cache", a->cache,
                   "Greedy decoding without the key/value cache: the decoder recomputed over the whole prefix at "
                   "every step (same outputs, slower; the baseline of the cache's speed-up; needs --beam 1)");
      app.add_option("texts", a->texts, "Texts to translate")->required();
      return [a] { return run_translate(*a); };
    });

qkv::cli::Command attention_reg(
    "transformer attention",
    "Draw every attention (encoder, decoder causal, cross; layer x head) of a trained Transformer for one input",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto a = std::make_shared<AttentionArgs>();
      app.add_option("--model", a->model, "Run directory (or model.safetensors) of a trained model")
          ->required()
          ->check(qkv::cli::non_empty());
      app.add_option("text", a->text, "The input")->required()->check(qkv::cli::non_empty());
      app.add_option("-o,--output", a->out, "PNG file to write")->required()->check(qkv::cli::non_empty());
      app.add_flag("--cross-only", a->cross_only,
                   "Only the cross-attention (output x input, layer x head): where each output token looks");
      return [a] { return run_attention(*a); };
    });

}  // namespace
