#include "qkv/demos/nw_page.h"

#include "qkv/pictures/html_page.h"
#include "qkv/pictures/json_tensor.h"

namespace qkv::demos {

std::string nw_page_json(const NwResult& r, const NwOptions& o) {
  using pictures::json_number;
  using pictures::json_tensor;
  nlohmann::json grid_x = nlohmann::json::array(), grid_y = nlohmann::json::array();
  for (int i = 0; i <= 200; ++i) {
    const double x = o.x_max * i / 200.0;
    grid_x.push_back(json_number(x));
    grid_y.push_back(json_number(nw_truth(x)));
  }
  nlohmann::json losses = nlohmann::json::array();
  for (double l : r.losses) losses.push_back(json_number(l));
  nlohmann::json j = {
      {"x_train", json_tensor(r.data.x_train)},
      {"y_train", json_tensor(r.data.y_train)},
      {"x_test", json_tensor(r.data.x_test)},
      {"y_truth", json_tensor(r.data.y_truth)},
      {"truth_x", grid_x},
      {"truth_y", grid_y},
      {"x_max", o.x_max},
      {"noise", o.noise},
      {"pred_average", json_tensor(r.pred_average)},
      {"pred_nonparametric", json_tensor(r.pred_nonparametric)},
      {"pred_parametric", json_tensor(r.pred_parametric)},
      {"mse_average", json_number(r.mse_average)},
      {"mse_nonparametric", json_number(r.mse_nonparametric)},
      {"mse_parametric", json_number(r.mse_parametric)},
      {"w", json_number(r.w)},
      {"losses", losses},
  };
  return pictures::json_text(j);
}

std::string nw_page_html(const NwResult& r, const NwOptions& o) {
  return pictures::render_html_page({.title = "qkv nw — Nadaraya–Watson regression as attention pooling",
                               .script = "nw.js",
                               .data_json = nw_page_json(r, o)});
}

}  // namespace qkv::demos
