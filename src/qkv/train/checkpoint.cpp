#include "qkv/train/checkpoint.h"

#include <filesystem>

#include "qkv/io/safetensors.h"

namespace qkv::train {
namespace {

io::SafeTensors weights_file(const nn::NamedParameters<float>& params, const Metadata& metadata) {
  io::SafeTensors f;
  for (auto& [name, p] : params) f.put(name, p->value);
  f.metadata = metadata;
  return f;
}

}  // namespace

void write_model_file(const std::string& path, const nn::NamedParameters<float>& params, const Metadata& metadata) {
  io::write_safetensors(path, weights_file(params, metadata));
}

void write_checkpoint(const std::string& path, const nn::NamedParameters<float>& params, const AdamW<float>& optimizer,
                      Metadata metadata, const std::string& train_config, int64_t epoch, const WeightEma* ema) {
  metadata["train_config"] = train_config;
  metadata["epoch"] = std::to_string(epoch);
  metadata["step"] = std::to_string(optimizer.steps());
  io::SafeTensors f = weights_file(params, metadata);
  for (auto& [name, t] : optimizer.state_dict()) f.put("optim." + name, t);
  if (ema)
    for (auto& [name, t] : ema->state_dict()) f.put(name, t);
  io::write_safetensors(path, f);
}

CheckpointPosition resume_from_checkpoint(const std::string& path, nn::Module<float>& model, AdamW<float>& optimizer,
                                          const std::string& train_config, int64_t epochs, int64_t steps_per_epoch,
                                          const std::string& who, WeightEma* ema) {
  io::SafeTensors f = io::read_safetensors(path);
  QKV_CHECK(f.meta("train_config") == train_config, who, ": --resume with options that differ from the run in '",
            path, "'\n  checkpoint: ", f.meta("train_config"), "\n  now:        ", train_config);
  const CheckpointPosition at = checkpoint_position(f, path, epochs, steps_per_epoch);
  auto params = model.named_parameters();
  io::NamedShapes shapes;
  for (auto& [name, p] : params) shapes.emplace_back(name, p->value.shape());
  io::check_weights(f, shapes, who + " --resume");
  std::map<std::string, TensorF> weights, state, averages;
  if (ema) {  // checked (and loaded) before the model changes
    for (auto& [name, t] : f.tensors)
      if (name.rfind("ema.", 0) == 0) averages[name] = f.get_f32(name);
    ema->load_state_dict(averages, path);
  }
  for (auto& [name, p] : params) weights[name] = f.get_f32(name);
  model.load_state_dict(weights);
  for (auto& [name, t] : f.tensors)
    if (name.rfind("optim.", 0) == 0) state[name.substr(6)] = f.get_f32(name);
  optimizer.load_state_dict(state, at.step);
  return at;
}

Metadata vit_file_metadata(const models::VitConfig& config, const std::string& format) {
  return {{"format", format}, {"vit_config", config.to_json()}};
}

void save_vit(const std::string& path, models::Vit<float>& model) {
  write_model_file(path, model.named_parameters(), vit_file_metadata(model.config(), "qkv-vit"));
}

void save_seq2seq(const std::string& dir, models::Seq2Seq<float>& model) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(str("save_seq2seq: cannot create directory '", dir, "': ", ec.message()));
  const auto& c = model.config();
  write_model_file((std::filesystem::path(dir) / "model.safetensors").string(), model.named_parameters(),
                   {{"format", "qkv.seq2seq.dates"},
                    {"vocab", std::to_string(c.vocab)},
                    {"embed", std::to_string(c.embed)},
                    {"hidden", std::to_string(c.hidden)},
                    {"attention", std::to_string(c.attention)}});
}

}  // namespace qkv::train
