// `qkv train`: train a ViT on Fashion-MNIST; the last line is "test accuracy: 0.XXXX".
#include <iostream>
#include <string>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/data/fashion_mnist.h"
#include "qkv/pictures/training_curve.h"
#include "qkv/train/distributed.h"
#include "qkv/train/vit_trainer.h"
#include "on_off.h"
#include "vit_options.h"

namespace {

qkv::cli::Command reg(
    "train", "Train a Vision Transformer on Fashion-MNIST (defaults: < 10 min on 2 cores, >= 91.5% test accuracy)",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto o = std::make_shared<qkv::train::VitTrainOptions>(qkv::train::default_vit_recipe());
      o->out_dir = "runs/vit";
      qkv::cli::add_vit_model_options(app, o->model);
      app.add_option("--epochs", o->epochs, "Training epochs")->check(qkv::cli::int_in(1, qkv::train::kMaxEpochs))->capture_default_str();
      app.add_option("--batch-size", o->batch_size, "Mini-batch size")->check(qkv::cli::int_in(1, 1000000))->capture_default_str();
      app.add_option("--lr", o->lr, "Peak learning rate (AdamW)")->check(qkv::cli::positive_real())->capture_default_str();
      app.add_option("--min-lr", o->min_lr, "Learning rate at the end of the cosine decay")
          ->check(qkv::cli::non_negative_real())
          ->capture_default_str();
      app.add_option("--warmup-epochs", o->warmup_epochs, "Linear warm-up length in epochs")
          ->check(qkv::cli::non_negative_real())
          ->capture_default_str();
      app.add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay (weights only)")
          ->check(qkv::cli::non_negative_real())
          ->capture_default_str();
      app.add_option("--beta1", o->beta1, "AdamW beta1")->check(qkv::cli::real_in(0, 1))->capture_default_str();
      app.add_option("--beta2", o->beta2, "AdamW beta2")->check(qkv::cli::real_in(0, 1))->capture_default_str();
      app.add_option("--clip", o->clip_grad_norm, "Clip the global gradient norm to this (0: off)")
          ->check(qkv::cli::non_negative_real())
          ->capture_default_str();
      app.add_option("--label-smoothing", o->label_smoothing, "Cross-entropy label smoothing")
          ->check(qkv::cli::real_in(0, 1))
          ->capture_default_str();
      app.add_option("--crop-pad", o->crop_pad, "Augmentation: random shifts of up to N pixels (0: off)")
          ->check(qkv::cli::int_in(0, 1024))
          ->capture_default_str();
      app.add_option("--erase", o->erase, "Augmentation: probability of random erasing (a random rectangle of noise)")
          ->check(qkv::cli::real_in(0, 1))
          ->capture_default_str();
      qkv::cli::add_on_off(app, "flip", o->flip, "Augmentation: random left-right flips", "Turn the random left-right flips off");
      app.add_option("--seed", o->seed, "Random seed (initialisation, shuffling, augmentation, dropout)")
          ->capture_default_str();
      app.add_option("--data", o->data_dir, "Directory with the Fashion-MNIST .gz files (default: " +
                                               qkv::data::default_fashion_mnist_dir() + ")")
          ->check(qkv::cli::non_empty());
      app.add_option("--out", o->out_dir, "Directory for checkpoint.safetensors, model.safetensors, metrics.jsonl")
          ->check(qkv::cli::non_empty())
          ->capture_default_str();
      app.add_flag("--resume", o->resume, "Continue from <out>/checkpoint.safetensors (same options)");
      app.add_option("--limit-train", o->limit_train, "Use only the first N training images (quick runs)")
          ->check(qkv::cli::int_in(0, 1000000000));
      app.add_option("--limit-test", o->limit_test, "Use only the first N test images (quick runs)")
          ->check(qkv::cli::int_in(0, 1000000000));
      app.add_option("--stop-after", o->stop_after,
                     "Stop after N epochs of this invocation, as if interrupted (continue with --resume)")
          ->check(qkv::cli::int_in(0, 1000000));
      app.add_flag("--no-progress{false}", o->progress, "No progress bar");
      // Mixing, EMA, test-time flip (train/mixing.h, train/ema.h, train/vit_evaluate.h).
      app.add_option("--mixup", o->mixup, "Mixup: mix each batch with its reverse, lambda ~ Beta(A, A) (0: off; e.g. 0.8)")
          ->check(qkv::cli::real_in(0, 100))
          ->capture_default_str();
      app.add_option("--cutmix", o->cutmix,
                     "CutMix: paste a box of the reversed batch, lambda ~ Beta(A, A), area-corrected (0: off; e.g. 1.0); "
                     "with --mixup: one of the two per batch, each with probability 0.5")
          ->check(qkv::cli::real_in(0, 100))
          ->capture_default_str();
      app.add_option("--mix-prob", o->mix_prob, "Probability that a batch is mixed (with --mixup/--cutmix)")
          ->check(qkv::cli::real_in(0, 1))
          ->capture_default_str();
      app.add_option("--ema", o->ema,
                     "Keep an exponential moving average of the weights with this decay (0: off; e.g. 0.999); "
                     "the EMA is evaluated and written to model.safetensors")
          ->check(qkv::cli::real_in(0, 0.999999))
          ->capture_default_str();
      app.add_flag("--ema-warmup", o->ema_warmup, "EMA decay min(--ema, (1 + t)/(10 + t)) at step t");
      qkv::cli::add_on_off(app, "tta-flip", o->tta_flip,
                 "Evaluate with test-time flip: mean logits of each test image and its left-right mirror",
                 "Evaluate each test image alone");
      return [o] {
        auto r = qkv::train::train_vit(*o, std::cerr);
        if (!qkv::train::world().primary()) return 0;  // across MPI ranks rank 0 alone reports
        std::cout << "steps: " << r.steps << "\n";
        if (!r.finished) {
          std::cout << "stopped after epoch " << r.epochs.back().epoch << " of " << o->epochs
                    << "; continue with --resume\n";
          return 0;
        }
        if (!o->out_dir.empty()) {
          std::cout << "model: " << o->out_dir << "/model.safetensors\n";
          qkv::pictures::write_training_curve(o->out_dir + "/metrics.jsonl", o->out_dir + "/curve.png",
                                              "qkv train: " + o->out_dir);
          std::cout << "curve: " << o->out_dir << "/curve.png\n";
        }
        std::printf("test accuracy: %.4f\n", r.test_accuracy);
        return 0;
      };
    });

}  // namespace
