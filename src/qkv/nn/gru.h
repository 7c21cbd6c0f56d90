// Gated recurrent unit, one layer, batch_first — PyTorch's nn.GRU layout and equations.
//
//   x: (B, L, in)   h0: (B, H) (zeros when undefined)   output: (B, L, H) (h_t for every t)
// Parameters (PyTorch names, gate order r, z, n in the rows):
//   weight_ih_l0 (3H, in)   weight_hh_l0 (3H, H)   bias_ih_l0 (3H,)   bias_hh_l0 (3H,)
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
//   h' = (1 − z) ∘ n + z ∘ h
// forward() projects the whole input sequence with one GEMM (gi = x W_ihᵀ + b_ih, (B·L, 3H)),
// then per step runs only the recurrent GEMM (gh = h W_hhᵀ + b_hh, (B, 3H)) and the gates.
// It saves x, the gates r, z, n and hn = W_hn h + b_hn per step (B, L, 4H) and the previous
// states h_{t−1} (B, L, H). backward(dout) runs back through time, accumulates every parameter
// gradient (dW_ih and dW_hh as one GEMM each over all steps) and returns dx; dh0() holds dh0.
//
// The cell functions below are the same step on raw row-major buffers (each operand with its
// own row stride), for callers that build each step's input on the fly (an attention decoder).
#pragma once

#include "qkv/core/rng.h"
#include "qkv/nn/parameter.h"

namespace qkv::nn {

// One step for B rows. gi (B, 3H): the input projection x W_ihᵀ + b_ih. gh: (B, 3H) contiguous
// scratch. Writes h (B, H) and saves gates (B, 4H) = [r, z, n, hn].
template <typename T>
void gru_cell_forward(int64_t B, int64_t H, const T* gi, int64_t ld_gi, const T* h_prev, int64_t ld_hp,
                      const T* w_hh, const T* b_hh, T* gh, T* gates, int64_t ld_g, T* h, int64_t ld_h);

// Given dh (B, H), writes dgi (B, 3H) (the gradient of the input projection, i.e. of b_ih),
// dgh (B, 3H) (of W_hh h + b_hh) and dh_prev = dh ∘ z + dgh W_hh (B, H, overwritten; must not
// alias dh). Parameter gradients are left to the caller: dW_hh += Σ dghᵀ h_prev, db_hh += Σ dgh.
template <typename T>
void gru_cell_backward(int64_t B, int64_t H, const T* dh, int64_t ld_dh, const T* h_prev, int64_t ld_hp,
                       const T* gates, int64_t ld_g, const T* w_hh, T* dgi, int64_t ld_dgi, T* dgh,
                       int64_t ld_dgh, T* dh_prev, int64_t ld_dhp);

template <typename T>
class GRU : public Module<T> {
 public:
  GRU() = default;
  // Initialised like PyTorch: every parameter U(−1/√H, 1/√H).
  GRU(int64_t input_size, int64_t hidden_size, Rng& rng);

  const Tensor<T>& forward(const Tensor<T>& x, const Tensor<T>& h0 = {});
  // dout (B, L, H): the gradient of every output step (add the gradient of h_n into dout[:, L−1]).
  const Tensor<T>& backward(const Tensor<T>& dout);
  const Tensor<T>& dh0() const { return dh0_; }

  void collect_parameters(const std::string& prefix, NamedParameters<T>& out) override;

  int64_t input_size() const { return weight_ih_l0.value.dim(1); }
  int64_t hidden_size() const { return weight_hh_l0.value.dim(1); }

  Parameter<T> weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0;

 private:
  Tensor<T> x_;      // (B, L, in)   saved input (contiguous)
  Tensor<T> gi_;     // (B, L, 3H)   input projection
  Tensor<T> gates_;  // (B, L, 4H)   saved r, z, n, hn
  Tensor<T> hprev_;  // (B, L, H)    saved h_{t−1}
  Tensor<T> out_;    // (B, L, H)
  Tensor<T> gh_;     // (B, 3H)      scratch
  Tensor<T> dgi_, dgh_;   // (B, L, 3H)
  Tensor<T> dh_, dhp_;    // (B, H) carries
  Tensor<T> dx_, dh0_;
};

}  // namespace qkv::nn
