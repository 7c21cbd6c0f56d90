// Internal helpers for the explorer's page data (included by .cpp files only: it needs
// nlohmann/json, a private dependency of the library).
#pragma once

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "qkv/core/tensor.h"

namespace qkv::pictures {

// A float as the shortest decimal of 7 significant digits (a float's precision), so that the
// JSON stays small: 0.3910001 rather than 0.39100000262260437.
inline double json_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", v);
  return std::strtod(buf, nullptr);
}

// A tensor as nested arrays, one level per dimension (a scalar tensor as a number).
inline nlohmann::json json_tensor(const TensorF& t) {
  TensorF c = t.contiguous();
  const auto& shape = c.shape();
  if (shape.empty()) return json_number(c.data()[0]);
  auto build = [&](auto&& self, size_t dim, int64_t offset, int64_t stride) -> nlohmann::json {
    nlohmann::json a = nlohmann::json::array();
    const int64_t inner = stride / shape[dim];
    for (int64_t i = 0; i < shape[dim]; ++i) {
      if (dim + 1 == shape.size())
        a.push_back(json_number(c.data()[offset + i]));
      else
        a.push_back(self(self, dim + 1, offset + i * inner, inner));
    }
    return a;
  };
  return build(build, 0, 0, c.numel());
}

inline nlohmann::json json_floats(const std::vector<float>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (float x : v) a.push_back(json_number(x));
  return a;
}

// Dumps as UTF-8; invalid UTF-8 (e.g. in user tokens) becomes U+FFFD instead of throwing.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace qkv::pictures
