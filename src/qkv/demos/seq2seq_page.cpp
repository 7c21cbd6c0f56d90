#include "qkv/demos/seq2seq_page.h"

#include "qkv/pictures/html_page.h"
#include "qkv/pictures/json_tensor.h"

namespace qkv::demos {

std::string seq2seq_page_json(const std::vector<Translation>& examples) {
  QKV_CHECK(!examples.empty(), "seq2seq_page_json: argument 'examples' is empty; expected at least one translation");
  nlohmann::json list = nlohmann::json::array();
  for (const Translation& t : examples) {
    QKV_CHECK(t.weights.rank() == 2 && t.weights.dim(0) == static_cast<int64_t>(t.out_chars.size()) &&
                  t.weights.dim(1) == static_cast<int64_t>(t.in_chars.size()),
              "seq2seq_page_json: the weights of '", t.input, "' have shape ", shape_str(t.weights.shape()),
              "; expected (", t.out_chars.size(), ", ", t.in_chars.size(), ") (output × input characters)");
    list.push_back({{"input", t.input},
                    {"output", t.output},
                    {"expected", t.expected},
                    {"in_tokens", t.in_chars},
                    {"out_tokens", t.out_chars},
                    {"attention", nlohmann::json::array({nlohmann::json::array({pictures::json_tensor(t.weights)})})}});
  }
  nlohmann::json j = {
      {"model", "GRU encoder–decoder with additive (Bahdanau) attention"},
      {"layers", 1},
      {"heads", 1},
      {"layer_names", {"decoder → encoder"}},
      {"examples", list},
  };
  return pictures::json_text(j);
}

std::string seq2seq_page_html(const std::vector<Translation>& examples) {
  return pictures::render_html_page({.title = "qkv seq2seq — where each output character looks",
                               .script = "seq2seq.js",
                               .data_json = seq2seq_page_json(examples)});
}

}  // namespace qkv::demos
