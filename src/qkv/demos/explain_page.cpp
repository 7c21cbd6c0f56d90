#include "qkv/demos/explain_page.h"

#include "qkv/pictures/html_page.h"
#include "qkv/pictures/json_tensor.h"

namespace qkv::demos {

std::string explain_page_json(const ExplainResult& r) {
  using pictures::json_tensor;
  nlohmann::json variance = nlohmann::json::array();
  for (const VarianceRow& v : r.variance)
    variance.push_back({{"d", v.d},
                        {"var_raw", pictures::json_number(v.var_raw)},
                        {"var_scaled", pictures::json_number(v.var_scaled)},
                        {"max_weight_raw", pictures::json_number(v.max_weight_raw)},
                        {"max_weight_scaled", pictures::json_number(v.max_weight_scaled)}});
  const int64_t L = r.mha_input.dim(0);
  nlohmann::json mha_tokens(std::vector<std::string>(r.tokens.begin(), r.tokens.begin() + L));
  nlohmann::json j = {
      {"tokens", r.tokens},
      {"X", json_tensor(r.X)},
      {"S", json_tensor(r.scores)},
      {"A", json_tensor(r.weights)},
      {"Y", json_tensor(r.output)},
      {"sdpa_max_diff", pictures::json_number(r.sdpa_max_diff)},
      {"Q", json_tensor(r.Q)},
      {"K", json_tensor(r.K)},
      {"V", json_tensor(r.V)},
      {"d_k", r.Q.dim(1)},
      {"A_scaled", json_tensor(r.weights_scaled)},
      {"variance", variance},
      {"mha",
       {{"tokens", mha_tokens},
        {"heads", r.mha_head_weights.dim(0)},
        {"head_dim", r.mha_concat.dim(1) / r.mha_head_weights.dim(0)},
        {"input", json_tensor(r.mha_input)},
        {"weights", json_tensor(r.mha_head_weights)},
        {"concat", json_tensor(r.mha_concat)},
        {"w_o", json_tensor(r.mha_w_o)},
        {"output", json_tensor(r.mha_output)},
        {"max_diff", pictures::json_number(r.mha_max_diff)}}},
      {"se", {{"squeeze", json_tensor(r.se_squeeze)}, {"weights", json_tensor(r.se_weights)}}},
  };
  return pictures::json_text(j);
}

std::string explain_page_html(const ExplainResult& r) {
  return pictures::render_html_page({.title = "qkv explain — attention step by step",
                               .script = "explain.js",
                               .data_json = explain_page_json(r)});
}

}  // namespace qkv::demos
