#include "qkv/train/ema.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "qkv/core/error.h"

namespace qkv::train {

void EmaOptions::validate() const {
  QKV_CHECK(decay == 0 || (decay > 0 && decay < 1), "EMA: decay (--ema) is ", decay,
            "; expected a number in (0, 1), e.g. 0.999 (0: off)");
}

WeightEma::WeightEma(const nn::NamedParameters<float>& params, const EmaOptions& options)
    : params_(params), o_(options) {
  o_.validate();
  for (auto& [name, p] : params_) e_.push_back(p->value.clone());
}

double WeightEma::decay_at(int64_t step) const {
  if (!o_.warmup) return o_.decay;
  const auto t = static_cast<double>(step);
  return std::min(o_.decay, (1.0 + t) / (10.0 + t));
}

void WeightEma::update(int64_t step) {
  const double d = decay_at(step);
  for (size_t i = 0; i < params_.size(); ++i) {
    float* e = e_[i].data();
    const float* p = params_[i].second->value.data();
    for (int64_t k = 0; k < e_[i].numel(); ++k)
      e[k] = static_cast<float>(d * static_cast<double>(e[k]) + (1.0 - d) * static_cast<double>(p[k]));
  }
}

void WeightEma::reset() {
  for (size_t i = 0; i < params_.size(); ++i) e_[i].copy_from(params_[i].second->value);
}

void WeightEma::swap() {
  for (size_t i = 0; i < params_.size(); ++i) {
    float* e = e_[i].data();
    float* p = params_[i].second->value.data();
    for (int64_t k = 0; k < e_[i].numel(); ++k) std::swap(e[k], p[k]);
  }
}

std::map<std::string, TensorF> WeightEma::state_dict() const {
  std::map<std::string, TensorF> out;
  for (size_t i = 0; i < params_.size(); ++i) out["ema." + params_[i].first] = e_[i];
  return out;
}

void WeightEma::load_state_dict(const std::map<std::string, TensorF>& state, const std::string& path) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string key = "ema." + params_[i].first;
    auto it = state.find(key);
    QKV_CHECK(it != state.end(), "--resume with --ema: '", path, "' has no tensor '", key,
              "' (was the run started without --ema?)");
    QKV_CHECK(it->second.shape() == e_[i].shape(), "--resume with --ema: '", path, "' has '", key, "' of shape ",
              shape_str(it->second.shape()), "; expected ", shape_str(e_[i].shape()));
    const float* v = it->second.data();
    for (int64_t k = 0; k < it->second.numel(); ++k)
      QKV_CHECK(std::isfinite(v[k]), "--resume with --ema: '", path, "' has a non-finite value in '", key, "'");
    e_[i].copy_from(it->second);
  }
}

}  // namespace qkv::train
