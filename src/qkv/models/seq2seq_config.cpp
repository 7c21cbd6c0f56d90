// Seq2SeqConfig: bounds, the parameter shapes a config implies, and the checks a saved model
// passes before the model is built (no model code: the fuzz targets link this file alone).
#include <map>
#include <string>

#include "qkv/io/input_file.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/seq2seq.h"

namespace qkv::models {

namespace {
constexpr int64_t kMaxParameters = int64_t{1} << 25;

void check_range(const char* key, int64_t value, int64_t lo, int64_t hi) {
  QKV_CHECK(value >= lo && value <= hi, "Seq2SeqConfig: ", key, "=", value, "; expected ", lo, "..", hi);
}
}  // namespace

void Seq2SeqConfig::validate() const {
  check_range("vocab", vocab, 4, 65536);
  check_range("embed", embed, 1, 4096);
  check_range("hidden", hidden, 1, 4096);
  check_range("attention", attention, 1, 4096);
  int64_t count = 0;
  for (const auto& [name, shape] : parameter_shapes()) count += numel_of(shape);
  QKV_CHECK(count <= kMaxParameters, "Seq2SeqConfig: vocab=", vocab, ", embed=", embed, ", hidden=", hidden,
            ", attention=", attention, " give ", count, " parameters; the limit is ", kMaxParameters);
}

std::vector<std::pair<std::string, Shape>> Seq2SeqConfig::parameter_shapes() const {
  const int64_t V = vocab, E = embed, H = hidden, A = attention;
  return {{"encoder.embedding.weight", {V, E}},
          {"encoder.rnn.weight_ih_l0", {3 * H, E}},
          {"encoder.rnn.weight_hh_l0", {3 * H, H}},
          {"encoder.rnn.bias_ih_l0", {3 * H}},
          {"encoder.rnn.bias_hh_l0", {3 * H}},
          {"decoder.embedding.weight", {V, E}},
          {"decoder.attention.W_q.weight", {A, H}},
          {"decoder.attention.W_k.weight", {A, H}},
          {"decoder.attention.w_v.weight", {1, A}},
          {"decoder.rnn.weight_ih_l0", {3 * H, E + H}},
          {"decoder.rnn.weight_hh_l0", {3 * H, H}},
          {"decoder.rnn.bias_ih_l0", {3 * H}},
          {"decoder.rnn.bias_hh_l0", {3 * H}},
          {"decoder.dense.weight", {V, 2 * H}},
          {"decoder.dense.bias", {V}}};
}

Seq2SeqConfig checked_seq2seq_config(const io::SafeTensors& file, int64_t expected_vocab) {
  const std::string where = "load_seq2seq: '" + io::printable_path(file.path) + "'";
  auto number = [&](const char* key) {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end()) throw FileError(str(where, " has no metadata '", key, "'"));
    const std::string& v = it->second;
    size_t digits = 0;
    while (digits < v.size() && digits < 10 && v[digits] >= '0' && v[digits] <= '9') ++digits;
    if (digits == 0 || digits != v.size() || v[0] == '0')
      throw FileError(str(where, ": metadata '", key, "' is '", v.size() > 40 ? v.substr(0, 40) + "..." : v,
                          "'; expected a positive integer"));
    return static_cast<int64_t>(std::stoll(v));
  };
  if (file.metadata.count("format") == 0 || file.metadata.at("format") != "qkv.seq2seq.dates")
    throw FileError(str(where, " is not a qkv seq2seq dates model (metadata 'format')"));
  Seq2SeqConfig c{number("vocab"), number("embed"), number("hidden"), number("attention")};
  if (c.vocab != expected_vocab)
    throw FileError(str(where, " has a vocabulary of ", c.vocab, "; expected ", expected_vocab));
  try {
    c.validate();
  } catch (const Error& e) {
    throw FileError(str(where, ": ", e.what()));
  }
  const auto shapes = c.parameter_shapes();
  io::check_weights(file, shapes, "load_seq2seq");
  for (const auto& [name, t] : file.tensors) {
    bool known = false;
    for (const auto& [expected, shape] : shapes) known = known || name == expected;
    if (!known) throw FileError(str(where, ": unexpected tensor '", name, "'"));
  }
  return c;
}

}  // namespace qkv::models
