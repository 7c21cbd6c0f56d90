#include "qkv/train/adamw.h"

#include <cmath>

#include "qkv/ops/adamw/adamw.h"

namespace qkv::train {

template <typename T>
AdamW<T>::AdamW(nn::NamedParameters<T> params, const AdamWOptions& options)
    : params_(std::move(params)), options_(options) {
  QKV_CHECK(options.lr >= 0, "AdamW: lr is ", options.lr, "; expected >= 0");
  QKV_CHECK(options.beta1 >= 0 && options.beta1 < 1, "AdamW: beta1 is ", options.beta1, "; expected [0, 1)");
  QKV_CHECK(options.beta2 >= 0 && options.beta2 < 1, "AdamW: beta2 is ", options.beta2, "; expected [0, 1)");
  QKV_CHECK(options.eps > 0, "AdamW: eps is ", options.eps, "; expected > 0");
  QKV_CHECK(options.weight_decay >= 0, "AdamW: weight_decay is ", options.weight_decay, "; expected >= 0");
  for (auto& [name, p] : params_) {
    QKV_CHECK(p && p->value.is_contiguous() && p->grad.shape() == p->value.shape() && p->grad.is_contiguous(),
              "AdamW: parameter '", name, "' needs contiguous value and grad of the same shape");
    m_.emplace_back(p->value.shape());
    v_.emplace_back(p->value.shape());
  }
}

template <typename T>
void AdamW<T>::step() {
  ++step_;
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2 = 1.0 - std::pow(options_.beta2, t);
  const double step_size = options_.lr / bc1;
  const double inv_sqrt_bc2 = 1.0 / std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Parameter<T>& p = *params_[i].second;
    const double decay = p.weight_decay ? 1.0 - options_.lr * options_.weight_decay : 1.0;
    const int64_t n = p.value.numel();
    T* pv = p.value.data();
    const T* g = p.grad.data();
    T* m = m_[i].data();
    T* v = v_[i].data();
    const AdamWStep<T> s{static_cast<T>(options_.beta1), static_cast<T>(options_.beta2),
                         static_cast<T>(options_.eps),   static_cast<T>(decay),
                         static_cast<T>(step_size),      static_cast<T>(inv_sqrt_bc2)};
    adamw_update(pv, g, m, v, n, s);
  }
}

template <typename T>
void AdamW<T>::zero_grad() {
  for (auto& [name, p] : params_) std::fill(p->grad.data(), p->grad.data() + p->grad.numel(), T(0));
}

template <typename T>
std::map<std::string, Tensor<T>> AdamW<T>::state_dict() const {
  std::map<std::string, Tensor<T>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out["exp_avg." + params_[i].first] = m_[i].clone();
    out["exp_avg_sq." + params_[i].first] = v_[i].clone();
  }
  return out;
}

template <typename T>
void AdamW<T>::load_state_dict(const std::map<std::string, Tensor<T>>& state, int64_t step) {
  QKV_CHECK(step >= 0, "AdamW.load_state_dict: step is ", step, "; expected >= 0");
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::pair{"exp_avg.", &m_[i]}, std::pair{"exp_avg_sq.", &v_[i]}}) {
      std::string key = prefix + params_[i].first;
      auto it = state.find(key);
      QKV_CHECK(it != state.end(), "AdamW.load_state_dict: missing key '", key, "'");
      QKV_CHECK(it->second.shape() == dst->shape(), "AdamW.load_state_dict: key '", key, "' has shape ",
                shape_str(it->second.shape()), "; expected ", shape_str(dst->shape()));
      dst->copy_from(it->second);
    }
  }
  step_ = step;
}

template <typename T>
double clip_grad_norm(const nn::NamedParameters<T>& params, double max_norm) {
  QKV_CHECK(max_norm > 0, "clip_grad_norm: max_norm is ", max_norm, "; expected > 0");
  double sq = 0;
  for (auto& [name, p] : params) {
    const T* g = p->grad.data();
    for (int64_t j = 0, n = p->grad.numel(); j < n; ++j) sq += static_cast<double>(g[j]) * g[j];
  }
  const double norm = std::sqrt(sq);
  QKV_CHECK(std::isfinite(norm), "clip_grad_norm: the gradient norm is not finite (NaN or infinite gradients)");
  if (norm > max_norm) {
    const T scale = static_cast<T>(max_norm / (norm + 1e-6));
    for (auto& [name, p] : params) {
      T* g = p->grad.data();
      for (int64_t j = 0, n = p->grad.numel(); j < n; ++j) g[j] *= scale;
    }
  }
  return norm;
}

template class AdamW<float>;
template class AdamW<double>;
template double clip_grad_norm<float>(const nn::NamedParameters<float>&, double);
template double clip_grad_norm<double>(const nn::NamedParameters<double>&, double);

}  // namespace qkv::train
