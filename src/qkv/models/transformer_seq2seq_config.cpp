// TransformerSeq2SeqConfig: bounds, the parameter shapes a config implies, the metadata of the
// model file and the checks a saved model passes before the model is built (no model code).
#include <cmath>
#include <string>

#include "qkv/io/input_file.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/transformer_seq2seq.h"

namespace qkv::models {
namespace {

constexpr int64_t kMaxParameters = int64_t{1} << 25;
constexpr const char* kFormat = "qkv.transformer";

void check_range(const char* key, int64_t value, int64_t lo, int64_t hi) {
  QKV_CHECK(value >= lo && value <= hi, "TransformerSeq2SeqConfig: ", key, "=", value, "; expected ", lo, "..", hi);
}

void attention_shapes(std::vector<std::pair<std::string, Shape>>& out, const std::string& p, int64_t E) {
  out.push_back({p + "in_proj_weight", {3 * E, E}});
  out.push_back({p + "in_proj_bias", {3 * E}});
  out.push_back({p + "out_proj.weight", {E, E}});
  out.push_back({p + "out_proj.bias", {E}});
}

void norm_shapes(std::vector<std::pair<std::string, Shape>>& out, const std::string& p, int64_t E) {
  out.push_back({p + "weight", {E}});
  out.push_back({p + "bias", {E}});
}

}  // namespace

nn::TransformerOptions TransformerSeq2SeqConfig::transformer_options() const {
  nn::TransformerOptions o;
  o.d_model = d_model;
  o.nhead = nhead;
  o.num_encoder_layers = encoder_layers;
  o.num_decoder_layers = decoder_layers;
  o.dim_feedforward = dim_feedforward;
  o.dropout = dropout;
  o.activation = nn::parse_activation(activation);
  o.batch_first = true;
  o.norm_first = norm_first;
  return o;
}

void TransformerSeq2SeqConfig::validate() const {
  check_range("src_vocab", src_vocab, 4, 65536);
  check_range("tgt_vocab", tgt_vocab, 4, 65536);
  check_range("d_model", d_model, 1, 4096);
  check_range("nhead", nhead, 1, d_model);
  QKV_CHECK(d_model % nhead == 0, "TransformerSeq2SeqConfig: nhead=", nhead, " does not divide d_model=", d_model);
  check_range("encoder_layers", encoder_layers, 0, 64);
  check_range("decoder_layers", decoder_layers, 1, 64);
  check_range("dim_feedforward", dim_feedforward, 1, 16384);
  check_range("max_len", max_len, 1, 4096);
  QKV_CHECK(task == "dates" || task == "cmudict", "TransformerSeq2SeqConfig: task is '", task,
            "'; expected dates or cmudict");
  QKV_CHECK(std::isfinite(dropout) && dropout >= 0 && dropout < 1, "TransformerSeq2SeqConfig: dropout=", dropout,
            "; expected a number in [0, 1)");
  transformer_options().validate();
  int64_t count = 0;
  for (const auto& [name, shape] : parameter_shapes()) count += numel_of(shape);
  QKV_CHECK(count <= kMaxParameters, "TransformerSeq2SeqConfig: ", count, " parameters; the limit is ",
            kMaxParameters);
}

std::vector<std::pair<std::string, Shape>> TransformerSeq2SeqConfig::parameter_shapes() const {
  const int64_t E = d_model, F = dim_feedforward;
  std::vector<std::pair<std::string, Shape>> out = {{"src_embed.weight", {src_vocab, E}},
                                                    {"tgt_embed.weight", {tgt_vocab, E}}};
  auto ff = [&](const std::string& p) {
    out.push_back({p + "linear1.weight", {F, E}});
    out.push_back({p + "linear1.bias", {F}});
    out.push_back({p + "linear2.weight", {E, F}});
    out.push_back({p + "linear2.bias", {E}});
  };
  for (int64_t i = 0; i < encoder_layers; ++i) {
    const std::string p = "transformer.encoder.layers." + std::to_string(i) + ".";
    attention_shapes(out, p + "self_attn.", E);
    ff(p);
    norm_shapes(out, p + "norm1.", E);
    norm_shapes(out, p + "norm2.", E);
  }
  norm_shapes(out, "transformer.encoder.norm.", E);
  for (int64_t i = 0; i < decoder_layers; ++i) {
    const std::string p = "transformer.decoder.layers." + std::to_string(i) + ".";
    attention_shapes(out, p + "self_attn.", E);
    attention_shapes(out, p + "multihead_attn.", E);
    ff(p);
    for (const char* n : {"norm1.", "norm2.", "norm3."}) norm_shapes(out, p + n, E);
  }
  norm_shapes(out, "transformer.decoder.norm.", E);
  if (!tie_embeddings) out.push_back({"generator.weight", {tgt_vocab, E}});
  out.push_back({"generator.bias", {tgt_vocab}});
  return out;
}

std::map<std::string, std::string> TransformerSeq2SeqConfig::to_metadata() const {
  return {{"format", kFormat},
          {"src_vocab", std::to_string(src_vocab)},
          {"tgt_vocab", std::to_string(tgt_vocab)},
          {"d_model", std::to_string(d_model)},
          {"nhead", std::to_string(nhead)},
          {"encoder_layers", std::to_string(encoder_layers)},
          {"decoder_layers", std::to_string(decoder_layers)},
          {"dim_feedforward", std::to_string(dim_feedforward)},
          {"dropout", std::to_string(dropout)},
          {"activation", activation},
          {"norm_first", norm_first ? "1" : "0"},
          {"tie_embeddings", tie_embeddings ? "1" : "0"},
          {"max_len", std::to_string(max_len)},
          {"task", task}};
}

TransformerSeq2SeqConfig TransformerSeq2SeqConfig::from_metadata(const std::map<std::string, std::string>& meta,
                                                                 const std::string& where) {
  auto text = [&](const char* key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) throw FileError(str(where, " has no metadata '", key, "'"));
    return it->second;
  };
  auto integer = [&](const char* key) {
    const std::string& v = text(key);
    size_t digits = 0;
    while (digits < v.size() && digits < 10 && v[digits] >= '0' && v[digits] <= '9') ++digits;
    if (digits == 0 || digits != v.size())
      throw FileError(str(where, ": metadata '", key, "' is '", v.size() > 40 ? v.substr(0, 40) + "..." : v,
                          "'; expected a non-negative integer"));
    return static_cast<int64_t>(std::stoll(v));
  };
  if (text("format") != kFormat) throw FileError(str(where, " is not a qkv transformer model (metadata 'format')"));
  TransformerSeq2SeqConfig c;
  c.src_vocab = integer("src_vocab");
  c.tgt_vocab = integer("tgt_vocab");
  c.d_model = integer("d_model");
  c.nhead = integer("nhead");
  c.encoder_layers = integer("encoder_layers");
  c.decoder_layers = integer("decoder_layers");
  c.dim_feedforward = integer("dim_feedforward");
  c.max_len = integer("max_len");
  c.norm_first = integer("norm_first") != 0;
  c.tie_embeddings = integer("tie_embeddings") != 0;
  c.activation = text("activation");
  c.task = text("task");
  try {
    c.dropout = std::stod(text("dropout"));
  } catch (const std::exception&) {
    throw FileError(str(where, ": metadata 'dropout' is not a number"));
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw FileError(str(where, ": ", e.what()));
  }
  return c;
}

TransformerSeq2SeqConfig checked_transformer_config(const io::SafeTensors& file) {
  const std::string where = "load_transformer: '" + io::printable_path(file.path) + "'";
  TransformerSeq2SeqConfig c = TransformerSeq2SeqConfig::from_metadata(file.metadata, where);
  io::check_weights(file, c.parameter_shapes(), "load_transformer");
  return c;
}

}  // namespace qkv::models
