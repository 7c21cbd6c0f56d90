// VitConfig: bounds, JSON (the "vit_config" metadata of checkpoints) and the parameter shapes
// a config implies.
#include <cmath>
#include <string>
#include <vector>
#include <limits>
#include <nlohmann/json.hpp>

#include "qkv/io/input_file.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/vit.h"

namespace qkv::models {
namespace {

constexpr int64_t kMaxParameters = int64_t{1} << 25;

void check_range(const char* key, int64_t value, int64_t lo, int64_t hi) {
  QKV_CHECK(value >= lo && value <= hi, "VitConfig: ", key, "=", value, "; expected ", lo, "..", hi);
}

int64_t integer(const nlohmann::json& j, const char* key) {
  QKV_CHECK(j.contains(key), "VitConfig: key '", key, "' is missing");
  const nlohmann::json& v = j.at(key);
  QKV_CHECK(v.is_number_integer(), "VitConfig: '", key, "' is ", v.dump(), "; expected an integer");
  QKV_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()},
            "VitConfig: '", key, "' is ", v.dump(), "; expected an integer that fits in 64 bits");
  return v.get<int64_t>();
}

std::string text_or(const nlohmann::json& j, const char* key, const std::string& fallback) {
  if (!j.contains(key)) return fallback;
  const nlohmann::json& v = j.at(key);
  QKV_CHECK(v.is_string(), "VitConfig: '", key, "' is ", v.dump(), "; expected a string");
  return v.get<std::string>();
}

std::vector<int64_t> integers_or(const nlohmann::json& j, const char* key, const std::vector<int64_t>& fallback) {
  if (!j.contains(key)) return fallback;
  const nlohmann::json& v = j.at(key);
  QKV_CHECK(v.is_array() && v.size() <= 64, "VitConfig: '", key, "' is ",
            v.dump().substr(0, 200), "; expected a list of at most 64 integers");
  std::vector<int64_t> out;
  for (const nlohmann::json& e : v) {
    QKV_CHECK(e.is_number_integer() && !(e.is_number_unsigned() && e.get<uint64_t>() > uint64_t{1} << 62),
              "VitConfig: '", key, "' holds ", e.dump(), "; expected integers");
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::string joined(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

double number(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0.0;
  const nlohmann::json& v = j.at(key);
  QKV_CHECK(v.is_number(), "VitConfig: '", key, "' is ", v.dump(), "; expected a number");
  return v.get<double>();
}

}  // namespace

void VitConfig::validate() const {
  check_range("image_size", image_size, 1, kMaxImageSize);
  check_range("channels", channels, 1, kMaxChannels);
  QKV_CHECK(patch > 0 && patch <= image_size && image_size % patch == 0, "VitConfig: patch=", patch,
            " must divide image_size=", image_size);
  QKV_CHECK(num_patches() <= kMaxPatches, "VitConfig: patch=", patch, " and image_size=", image_size, " give ",
            num_patches(), " patches; expected at most ", kMaxPatches);
  check_range("dim", dim, 1, kMaxDim);
  QKV_CHECK(heads > 0 && dim % heads == 0, "VitConfig: dim=", dim, " must be a positive multiple of heads=", heads);
  check_range("depth", depth, 0, kMaxDepth);
  check_range("mlp_hidden", mlp_hidden, 1, kMaxMlpHidden);
  check_range("classes", classes, 1, kMaxClasses);
  QKV_CHECK(stem == "patch" || stem == "conv", "VitConfig: stem='", stem, "'; expected 'patch' or 'conv'");
  QKV_CHECK(pool == "cls" || pool == "mean", "VitConfig: pool='", pool, "'; expected 'cls' or 'mean'");
  QKV_CHECK(drop_path >= 0 && drop_path < 1, "VitConfig: drop_path=", drop_path, "; expected [0, 1)");
  if (conv_stem()) {
    QKV_CHECK(!stem_channels.empty() && static_cast<int64_t>(stem_channels.size()) <= kMaxStemLayers,
              "VitConfig: stem_channels=", joined(stem_channels), " has ", stem_channels.size(),
              " widths; expected 1..", kMaxStemLayers);
    for (int64_t w : stem_channels)
      QKV_CHECK(w >= 1 && w <= kMaxDim, "VitConfig: stem_channels=", joined(stem_channels), " holds ", w,
                "; expected widths 1..", kMaxDim);
    QKV_CHECK(patch == stem_stride(), "VitConfig: stem=conv with stem_channels=", joined(stem_channels),
              " (one stride-2 convolution per width) has total stride ", stem_stride(), ", so patch must be ",
              stem_stride(), "; got patch=", patch, " (use patch ", stem_stride(),
              " or as many stem widths as halvings: patch = 2^widths)");
  }
  QKV_CHECK(dropout >= 0 && dropout < 1, "VitConfig: dropout=", dropout, "; expected [0, 1)");
  QKV_CHECK(attn_dropout >= 0 && attn_dropout < 1, "VitConfig: attn_dropout=", attn_dropout, "; expected [0, 1)");
  int64_t count = 0;
  for (const auto& [name, shape] : parameter_shapes()) count += numel_of(shape);
  QKV_CHECK(count <= kMaxParameters, "VitConfig: dim=", dim, ", depth=", depth, ", mlp_hidden=", mlp_hidden,
            ", channels=", channels, ", patch=", patch, ", classes=", classes, " give ", count,
            " parameters; the limit is ", kMaxParameters);
}

std::vector<std::pair<std::string, Shape>> VitConfig::parameter_shapes() const {
  const int64_t E = dim, F = mlp_hidden;
  std::vector<std::pair<std::string, Shape>> out;
  if (class_token()) out.push_back({"cls_token", {1, 1, E}});
  out.push_back({"pos_embed", {1, tokens(), E}});
  if (conv_stem()) {
    int64_t in = channels;
    for (size_t i = 0; i <= stem_channels.size(); ++i) {
      const int64_t o = i < stem_channels.size() ? stem_channels[i] : E;
      const std::string name = "patch_embed.stem." + std::to_string(2 * i);
      out.push_back({name + ".weight", {o, in, 3, 3}});
      out.push_back({name + ".bias", {o}});
      in = o;
    }
  } else {
    out.push_back({"patch_embed.proj.weight", {E, channels, patch, patch}});
    out.push_back({"patch_embed.proj.bias", {E}});
  }
  for (int64_t i = 0; i < depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    for (auto& [name, shape] : std::vector<std::pair<std::string, Shape>>{
             {"norm1.weight", {E}},
             {"norm1.bias", {E}},
             {"attn.in_proj_weight", {3 * E, E}},
             {"attn.in_proj_bias", {3 * E}},
             {"attn.out_proj.weight", {E, E}},
             {"attn.out_proj.bias", {E}},
             {"norm2.weight", {E}},
             {"norm2.bias", {E}},
             {"mlp.fc1.weight", {F, E}},
             {"mlp.fc1.bias", {F}},
             {"mlp.fc2.weight", {E, F}},
             {"mlp.fc2.bias", {E}}})
      out.emplace_back(b + name, shape);
  }
  out.push_back({"norm.weight", {E}});
  out.push_back({"norm.bias", {E}});
  out.push_back({"head.weight", {classes, E}});
  out.push_back({"head.bias", {classes}});
  return out;
}

std::string VitConfig::to_json() const {
  nlohmann::json j = {{"image_size", image_size}, {"channels", channels},   {"patch", patch},
                      {"dim", dim},               {"depth", depth},         {"heads", heads},
                      {"mlp_hidden", mlp_hidden}, {"classes", classes},     {"dropout", dropout},
                      {"attn_dropout", attn_dropout}};
  // The recipe options only when they differ from the defaults, so the default model's config
  // (and a checkpoint's train_config, compared on --resume) reads as before they existed.
  const VitConfig defaults;
  if (stem != defaults.stem || stem_channels != defaults.stem_channels) {
    j["stem"] = stem;
    j["stem_channels"] = stem_channels;
  }
  if (pool != defaults.pool) j["pool"] = pool;
  if (drop_path != defaults.drop_path) j["drop_path"] = drop_path;
  return j.dump();
}

VitConfig VitConfig::from_json(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  QKV_CHECK(!j.is_discarded() && j.is_object(), "VitConfig: the config is not a JSON object: ",
            text.size() > 200 ? text.substr(0, 200) + "..." : text);
  VitConfig c;
  c.image_size = integer(j, "image_size");
  c.channels = integer(j, "channels");
  c.patch = integer(j, "patch");
  c.dim = integer(j, "dim");
  c.depth = integer(j, "depth");
  c.heads = integer(j, "heads");
  c.mlp_hidden = integer(j, "mlp_hidden");
  c.classes = integer(j, "classes");
  c.dropout = number(j, "dropout");
  c.attn_dropout = number(j, "attn_dropout");
  c.stem = text_or(j, "stem", c.stem);
  c.stem_channels = integers_or(j, "stem_channels", c.stem_channels);
  c.pool = text_or(j, "pool", c.pool);
  c.drop_path = number(j, "drop_path");
  c.validate();
  return c;
}

VitConfig checked_vit_config(const io::SafeTensors& file) {
  const std::string where = "load_vit: '" + io::printable_path(file.path) + "'";
  auto it = file.metadata.find("vit_config");
  if (it == file.metadata.end()) throw FileError(where + " has no 'vit_config' metadata (not a qkv ViT checkpoint)");
  VitConfig config;
  try {
    config = VitConfig::from_json(it->second);
  } catch (const Error& e) {
    throw FileError(where + ": metadata 'vit_config': " + e.what());
  }
  io::check_weights(file, config.parameter_shapes(), "load_vit");
  return config;
}

}  // namespace qkv::models
