// AdamW (torch.optim.AdamW: Adam with decoupled weight decay) and gradient-norm clipping.
//
// Weight decay applies only to parameters with Parameter::weight_decay == true (weights of
// linear maps); biases, norms, tokens and position embeddings are not decayed.
// State per parameter: exp_avg m and exp_avg_sq v (same shape), and the shared step count t.
// Per step, for each parameter p with gradient g (the op ops/adamw/adamw.h):
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps)
#pragma once

#include <map>
#include <string>

#include "qkv/nn/parameter.h"

namespace qkv::train {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

template <typename T>
class AdamW {
 public:
  AdamW(nn::NamedParameters<T> params, const AdamWOptions& options = {});

  void step();       // one update with the current learning rate
  void zero_grad();  // clears every parameter's gradient

  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  const AdamWOptions& options() const { return options_; }
  int64_t steps() const { return step_; }
  const nn::NamedParameters<T>& params() const { return params_; }

  // "exp_avg.<name>" and "exp_avg_sq.<name>" for every parameter; the step count separately.
  std::map<std::string, Tensor<T>> state_dict() const;
  // Every key must be present with its parameter's shape; throws qkv::Error otherwise.
  void load_state_dict(const std::map<std::string, Tensor<T>>& state, int64_t step);

 private:
  nn::NamedParameters<T> params_;
  AdamWOptions options_;
  std::vector<Tensor<T>> m_, v_;
  int64_t step_ = 0;
};

// Scales every gradient by max_norm / (norm + 1e-6) when the global L2 norm exceeds max_norm
// (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
template <typename T>
double clip_grad_norm(const nn::NamedParameters<T>& params, double max_norm);

}  // namespace qkv::train
