// Exponential moving average of a model's weights (timm's ModelEmaV2; Polyak averaging).
//
// The EMA holds one float32 copy e of every parameter p (same names and shapes), started as the
// weights before the first step. After optimizer step t (1-based, the optimizer's step count):
//   d_t = decay                              (warmup off)
//   d_t = min(decay, (1 + t) / (10 + t))     (warmup on: TensorFlow's num_updates rule, so early
//                                             averages do not hold on to the random start)
//   e ← d_t·e + (1 − d_t)·p                  (in double, rounded to float)
// The trainer (train/trainer.h) evaluates and writes the model file with e swapped into the
// model, and stores e in the checkpoint as "ema.<name>", so a resumed run continues exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qkv/nn/parameter.h"

namespace qkv::train {

struct EmaOptions {
  double decay = 0;     // 0: no EMA; else in (0, 1)
  bool warmup = false;  // d_t = min(decay, (1 + t) / (10 + t))
  bool enabled() const { return decay > 0; }
  // Throws qkv::Error naming --ema when decay is not 0 or in (0, 1).
  void validate() const;
};

class WeightEma {
 public:
  // Copies params' current values.
  WeightEma(const nn::NamedParameters<float>& params, const EmaOptions& options);

  double decay_at(int64_t step) const;  // d_t of step t >= 1
  // After optimizer step `step` (>= 1): e ← d·e + (1 − d)·p.
  void update(int64_t step);
  // Copies params' current values (after a broadcast of the start weights).
  void reset();
  // Exchanges e and the parameters' values (twice: back as before, bit for bit).
  void swap();

  // "ema.<name>" → e, for the checkpoint.
  std::map<std::string, TensorF> state_dict() const;
  // Every "ema.<name>" must be present with its parameter's shape and finite values; throws
  // qkv::Error naming `path` otherwise.
  void load_state_dict(const std::map<std::string, TensorF>& state, const std::string& path);
  std::vector<TensorF>& values() { return e_; }

 private:
  nn::NamedParameters<float> params_;
  EmaOptions o_;
  std::vector<TensorF> e_;
};

}  // namespace qkv::train
