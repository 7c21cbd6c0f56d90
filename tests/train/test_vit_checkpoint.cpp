// Model files: a ViT saved and loaded gives the same logits. Loading models from hostile files: the config (vit_config metadata, seq2seq metadata) is
// checked against bounds and against the tensors present before any model is allocated; shape,
// dtype and non-finite errors name the file and the tensor.
#include <cmath>
#include <limits>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "gradcheck.h"
#include "hostile_files.h"
#include "qkv/data/dates.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/seq2seq.h"
#include "qkv/models/vit.h"
#include "qkv/train/checkpoint.h"
#include "tiny_vit.h"

using namespace qkv;

namespace {

// A valid checkpoint of test::tiny_vit_config(), read back for editing.
io::SafeTensors tiny_checkpoint(const std::string& path) {
  models::Vit<float> m(test::tiny_vit_config(), 3);
  train::save_vit(path, m);
  return io::read_safetensors(path);
}

std::string with_key(const std::string& json, const std::string& key, const std::string& value) {
  const auto at = json.find("\"" + key + "\":");
  const auto begin = at + key.size() + 3, end = json.find_first_of(",}", begin);
  return json.substr(0, begin) + value + json.substr(end);
}

}  // namespace

TEST(VitCheckpoint, SaveLoadRoundTripGivesIdenticalLogits) {
  models::Vit<float> m(test::tiny_vit_config(), 11);
  Rng rng(2);
  TensorF images = test::randn<float>({2, 1, 8, 8}, rng);
  TensorF before = m.forward(images).clone();
  auto path = std::filesystem::temp_directory_path() / ("qkv_vit_model_" + std::to_string(::getpid()) + ".safetensors");
  train::save_vit(path.string(), m);
  auto loaded = models::load_vit(path.string());
  EXPECT_EQ(loaded->config().to_json(), m.config().to_json());
  EXPECT_EQ(loaded->forward(images).to_vector(), before.to_vector());
  std::filesystem::remove(path);
  EXPECT_THROW(models::load_vit(path.string()), FileError);
}

TEST(VitCheckpoint, RecipeOptionsRoundTripAndOldFilesLoadAsBefore) {
  auto dir = test::hostile_dir("vitrecipe");
  const std::string path = (dir / "model.safetensors").string();
  models::VitConfig c = test::tiny_vit_config();
  c.stem = "conv";
  c.stem_channels = {3, 5};
  c.patch = 4;
  c.pool = "mean";
  c.drop_path = 0.2;
  models::Vit<float> m(c, 11);
  Rng rng(2);
  TensorF images = test::randn<float>({2, 1, 8, 8}, rng);
  TensorF before = m.forward(images).clone();
  train::save_vit(path, m);
  auto loaded = models::load_vit(path);
  EXPECT_EQ(loaded->config().to_json(), c.to_json());
  EXPECT_EQ(loaded->forward(images).to_vector(), before.to_vector());
  // A file from before the options: its vit_config lacks the keys, and it loads as the default model.
  io::SafeTensors f = tiny_checkpoint(path);
  nlohmann::json j = nlohmann::json::parse(f.metadata["vit_config"]);
  for (const char* key : {"stem", "stem_channels", "pool", "drop_path"}) j.erase(key);
  f.metadata["vit_config"] = j.dump();
  io::write_safetensors(path, f);
  EXPECT_EQ(models::load_vit(path)->config().to_json(), test::tiny_vit_config().to_json());
  // A conv stem in the metadata over the patch embedding's tensors: refused, naming the tensor.
  j["stem"] = "conv";
  j["stem_channels"] = {3};
  j["patch"] = 2;
  f.metadata["vit_config"] = j.dump();
  io::write_safetensors(path, f);
  test::expect_file_error_with([&] { models::load_vit(path); }, {path, "'pos_embed'"});
  j["patch"] = 4;
  f.metadata["vit_config"] = j.dump();
  io::write_safetensors(path, f);
  test::expect_file_error_with([&] { models::load_vit(path); }, {path, "stem=conv", "patch must be 2", "patch=4"});
  std::filesystem::remove_all(dir);
}

TEST(VitCheckpoint, ParameterShapesFromTheConfigMatchTheModel) {
  for (int64_t depth : {0, 1, 3}) {
    models::VitConfig c = test::tiny_vit_config();
    c.depth = depth;
    c.channels = 3;
    models::Vit<float> m(c);
    auto params = m.named_parameters();
    auto shapes = c.parameter_shapes();
    ASSERT_EQ(shapes.size(), params.size()) << "depth " << depth;
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(shapes[i].first, params[i].first);
      EXPECT_EQ(shapes[i].second, params[i].second->value.shape()) << params[i].first;
    }
  }
}

TEST(VitCheckpoint, HostileConfigsAreRefusedNamingFileAndKey) {
  auto dir = test::hostile_dir("vitcfg");
  const std::string path = (dir / "model.safetensors").string();
  io::SafeTensors f = tiny_checkpoint(path);
  const std::string json = f.metadata["vit_config"];
  auto load_with = [&](const std::string& key, const std::string& value) {
    f.metadata["vit_config"] = with_key(json, key, value);
    io::write_safetensors(path, f);
    return [&] { models::load_vit(path); };
  };
  test::expect_file_error_with(load_with("depth", "10000000"), {path, "vit_config", "depth=10000000", "0..256"});
  test::expect_file_error_with(load_with("dim", "1000000"), {path, "dim=1000000", "1..4096"});
  test::expect_file_error_with(load_with("mlp_hidden", "1000000000"), {path, "mlp_hidden=1000000000"});
  test::expect_file_error_with(load_with("dim", "32.7"), {path, "'dim' is 32.7; expected an integer"});
  test::expect_file_error_with(load_with("dim", "1e300"), {path, "'dim'", "expected an integer"});
  test::expect_file_error_with(load_with("heads", "18446744073709551615"), {path, "'heads'", "64 bits"});
  test::expect_file_error_with(load_with("classes", "\"10\""), {path, "'classes'", "expected an integer"});
  // Within every bound, but the parameters would not fit the limit.
  f.metadata["vit_config"] = with_key(with_key(with_key(json, "dim", "4096"), "depth", "256"), "mlp_hidden", "16384");
  io::write_safetensors(path, f);
  test::expect_file_error_with([&] { models::load_vit(path); }, {path, "parameters; the limit is 33554432"});
  // A valid config whose tensors are not in the file: refused before the model exists.
  f.metadata["vit_config"] = with_key(json, "depth", "200");
  io::write_safetensors(path, f);
  test::expect_file_error_with([&] { models::load_vit(path); }, {path, "no tensor 'blocks.2.norm1.weight'"});
  std::filesystem::remove_all(dir);
}

TEST(VitCheckpoint, ShapeAndDtypeErrorsNameTheFileAndTensor) {
  auto dir = test::hostile_dir("vitshape");
  const std::string path = (dir / "model.safetensors").string();
  io::SafeTensors f = tiny_checkpoint(path);
  io::SafeTensors g = f;
  g.put("blocks.1.mlp.fc1.weight", TensorF(Shape{12, 9}));
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_vit(path); },
                               {path, "tensor 'blocks.1.mlp.fc1.weight' has shape (12, 9); expected (12, 8)"});
  g = f;
  g.put("head.bias", TensorD(Shape{3}));
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_vit(path); }, {path, "tensor 'head.bias' has dtype F64; expected F32"});
  std::filesystem::remove_all(dir);
}

TEST(VitCheckpoint, NonFiniteWeightsAreRefusedNamingTheTensor) {
  auto dir = test::hostile_dir("vitnan");
  const std::string path = (dir / "model.safetensors").string();
  io::SafeTensors f = tiny_checkpoint(path);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    io::SafeTensors g = f;
    TensorF w = g.get_f32("blocks.0.mlp.fc1.weight");
    w[5] = bad;
    g.put("blocks.0.mlp.fc1.weight", w);
    io::write_safetensors(path, g);
    test::expect_file_error_with([&] { models::load_vit(path); },
                                 {path, "tensor 'blocks.0.mlp.fc1.weight' holds", "at index 5", "weights must be finite"});
  }
  std::filesystem::remove_all(dir);
}

TEST(VitCheckpoint, ConfigBoundsApplyToModelsBuiltInMemory) {
  models::VitConfig c = test::tiny_vit_config();
  c.depth = 1000000;
  EXPECT_THROW(models::Vit<float>{c}, Error);
  c = test::tiny_vit_config();
  c.dim = 100000;
  c.heads = 1;
  EXPECT_THROW(models::Vit<float>{c}, Error);
  models::Seq2SeqConfig s{16, 8, 1000000, 8};
  Rng rng(0);
  EXPECT_THROW(models::Seq2Seq<float>(s, rng), Error);
}

TEST(Seq2SeqLoad, HostileModelsAreRefusedNamingFileAndKeyOrTensor) {
  auto dir = test::hostile_dir("s2s");
  const std::string path = (dir / "model.safetensors").string();
  data::CharVocab vocab;
  Rng rng(1);
  models::Seq2Seq<float> model(models::Seq2SeqConfig{vocab.size(), 4, 6, 5}, rng);
  train::save_seq2seq(dir.string(), model);
  const io::SafeTensors f = io::read_safetensors(path);
  ASSERT_NO_THROW(models::load_seq2seq(dir.string(), data::CharVocab().size()));

  io::SafeTensors g = f;
  g.metadata["hidden"] = "1000000";
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_seq2seq(dir.string(), data::CharVocab().size()); }, {path, "hidden=1000000", "1..4096"});
  g.metadata["hidden"] = "6.5";
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_seq2seq(dir.string(), data::CharVocab().size()); },
                               {path, "metadata 'hidden' is '6.5'; expected a positive integer"});

  g = f;
  TensorF w = g.get_f32("decoder.dense.weight");
  w[0] = std::numeric_limits<float>::infinity();
  g.put("decoder.dense.weight", w);
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_seq2seq(dir.string(), data::CharVocab().size()); },
                               {path, "tensor 'decoder.dense.weight' holds an infinite value at index 0"});

  g = f;
  g.put("decoder.rnn.weight_hh_l0", TensorF(Shape{18, 5}));
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_seq2seq(dir.string(), data::CharVocab().size()); },
                               {path, "tensor 'decoder.rnn.weight_hh_l0' has shape (18, 5); expected (18, 6)"});

  g = f;
  g.put("extra", TensorF(Shape{1}));
  io::write_safetensors(path, g);
  test::expect_file_error_with([&] { models::load_seq2seq(dir.string(), data::CharVocab().size()); }, {path, "unexpected tensor 'extra'"});
  std::filesystem::remove_all(dir);
}

TEST(Seq2SeqLoad, ParameterShapesFromTheConfigMatchTheModel) {
  Rng rng(2);
  const models::Seq2SeqConfig c{7, 3, 5, 4};
  models::Seq2Seq<float> m(c, rng);
  std::map<std::string, Shape> from_model, from_config;
  for (auto& [name, p] : m.named_parameters()) from_model[name] = p->value.shape();
  for (auto& [name, shape] : c.parameter_shapes()) from_config[name] = shape;
  EXPECT_EQ(from_config, from_model);
}
