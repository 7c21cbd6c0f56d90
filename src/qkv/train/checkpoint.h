// Every file a training run writes, in one place (safetensors, written atomically by
// io::write_safetensors):
//
//   model file   the parameters under their state_dict names + metadata (format, the model's
//                config); what models::load_vit / models::load_seq2seq read
//   checkpoint   the model file's tensors and metadata, plus the optimizer state as
//                "optim.exp_avg.<name>" / "optim.exp_avg_sq.<name>" and the metadata
//                train_config (the options that change results), epoch and step; with an EMA of
//                the weights (train/ema.h) its copy as "ema.<name>"
//
// resume_from_checkpoint checks before it changes anything: train_config equal to the run's
// (qkv::Error showing both), epoch and step (train/run_files.h: checkpoint_position), every
// parameter present as finite F32 with the model's shape (io::check_weights); then it loads the
// weights into the model and the state into the optimizer.
#pragma once

#include <map>
#include <string>

#include "qkv/models/seq2seq.h"
#include "qkv/models/vit.h"
#include "qkv/nn/parameter.h"
#include "qkv/train/adamw.h"
#include "qkv/train/ema.h"
#include "qkv/train/run_files.h"

namespace qkv::train {

using Metadata = std::map<std::string, std::string>;

void write_model_file(const std::string& path, const nn::NamedParameters<float>& params, const Metadata& metadata);

// metadata: the model's (format, config); train_config, epoch and step are added here.
void write_checkpoint(const std::string& path, const nn::NamedParameters<float>& params, const AdamW<float>& optimizer,
                      Metadata metadata, const std::string& train_config, int64_t epoch,
                      const WeightEma* ema = nullptr);

// who: the error messages' prefix ("train_vit"). Returns where the checkpoint stopped.
// ema: loaded from "ema.<name>" when given.
CheckpointPosition resume_from_checkpoint(const std::string& path, nn::Module<float>& model, AdamW<float>& optimizer,
                                          const std::string& train_config, int64_t epochs, int64_t steps_per_epoch,
                                          const std::string& who, WeightEma* ema = nullptr);

// The model files of the two models (format "qkv-vit" with "vit_config"; format
// "qkv.seq2seq.dates" with vocab, embed, hidden, attention in <dir>/model.safetensors).
Metadata vit_file_metadata(const models::VitConfig& config, const std::string& format);
void save_vit(const std::string& path, models::Vit<float>& model);
void save_seq2seq(const std::string& dir, models::Seq2Seq<float>& model);

}  // namespace qkv::train
