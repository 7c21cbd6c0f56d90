// Softmax cross-entropy over class logits, forward and gradient in one pass (PyTorch's
// nn.CrossEntropyLoss with reduction="mean", ignore_index and label_smoothing).
//
//   logits (N, C)   labels (N,) int64 in [0, C) or == ignore_index   dlogits (N, C)
// loss = mean over the counted rows of −Σ_c q_c·log softmax(z)_c with q = (1−ε)·onehot + ε/C.
// dlogits (if requested) is the gradient of that mean: (softmax − q)/count, zero on ignored rows.
// `correct` counts counted rows whose arg-max equals the label (ties: the first maximum).
//
// soft_cross_entropy: the same loss with probability targets (PyTorch's cross_entropy with a
// (N, C) float target, as mixup and cutmix make them):
//   logits (N, C)   targets (N, C), each row >= 0 summing to 1   dlogits (N, C)
// loss = mean over the N rows of −Σ_c q_c·log softmax(z)_c with q = (1−ε)·target + ε/C;
// dlogits = (softmax − q)/N. Nothing is saved: the gradient is computed in the same pass.
// `correct` counts rows whose arg-max equals the target's arg-max, the dominant label of a mixed
// pair (ties: the first maximum, so a 50/50 mix counts the lower class index).
#pragma once

#include <cstdint>

#include "qkv/core/tensor.h"

namespace qkv::train {

struct CrossEntropyResult {
  double loss = 0;      // mean over counted rows (0 when count == 0)
  int64_t correct = 0;  // arg-max hits
  int64_t count = 0;    // rows whose label != ignore_index
};

// Raw-buffer form for hot loops (no allocation). dlogits may be nullptr.
template <typename T>
CrossEntropyResult cross_entropy(const T* logits, const int64_t* labels, int64_t N, int64_t C, T* dlogits,
                                 int64_t ignore_index = -100, double label_smoothing = 0.0);

// Checked form: logits must be (N, C), labels (N,); dlogits, if given, is resized to (N, C).
template <typename T>
CrossEntropyResult cross_entropy(const Tensor<T>& logits, const TensorI& labels, Tensor<T>* dlogits = nullptr,
                                 int64_t ignore_index = -100, double label_smoothing = 0.0);

// Raw-buffer form. Checks each target row: finite, >= 0 and summing to 1 within 1e-4.
template <typename T>
CrossEntropyResult soft_cross_entropy(const T* logits, const T* targets, int64_t N, int64_t C, T* dlogits,
                                      double label_smoothing = 0.0);

// Checked form: logits and targets (N, C); dlogits, if given, is resized to (N, C).
template <typename T>
CrossEntropyResult soft_cross_entropy(const Tensor<T>& logits, const Tensor<T>& targets, Tensor<T>* dlogits = nullptr,
                                      double label_smoothing = 0.0);

}  // namespace qkv::train
