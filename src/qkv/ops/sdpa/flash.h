// Fused scaled dot-product attention kernels (FlashAttention-2 style), float32 and bfloat16.
//
// Dimension glossary: B batch, H heads, Lq queries, Lk keys, d query/key width, dv value width.
//   q: (B, H, Lq, d)   k: (B, Hkv, Lk, d)   v: (B, Hkv, Lk, dv)   out: (B, H, Lq, dv)   lse: (B, H, Lq)
// (Hkv = H unless grouped-query: FlashDims::Hkv.) Scores s = scale · q·k, soft-capped, plus the
// ALiBi and mask biases, masked as FlashMask says; out = softmax(s) V (dropout applied to
// the weights after the softmax). The forward saves only lse = log Σ_j exp(s_ij) (natural log,
// −inf for a row with no visible key, whose output is 0); the backward recomputes the weights
// from q, k and lse and never materialises Lq×Lk.
//
// This layer takes raw pointers and strides and knows nothing of tensors or modules. Inputs are
// read through FlashIn views (the last dimension must be contiguous); outputs are written
// contiguous. SIMD is chosen at run time (Highway); threads come from qkv/core/parallel.h.
#pragma once

#include <cstdint>

namespace qkv::kernels {

struct FlashDims {
  int64_t B = 0, H = 0, Lq = 0, Lk = 0, d = 0, dv = 0;
  // Key/value heads (grouped-query attention): k and v are (B, Hkv, Lk, ·), query head h reads
  // key/value head h / (H / Hkv) (repeat-interleave); 0 means H. H must be a multiple of Hkv.
  int64_t Hkv = 0;
  int64_t kv_heads() const { return Hkv > 0 ? Hkv : H; }
  int64_t group() const { return H / kv_heads(); }
};

// A (B, H, L, width) operand: element (b, h, i, c) is at p[b·sb + h·sh + i·si + c].
template <typename T>
struct FlashView {
  const T* p = nullptr;
  int64_t sb = 0, sh = 0, si = 0;
  const T* row(int64_t b, int64_t h, int64_t i) const { return p + b * sb + h * sh + i * si; }
};
using FlashIn = FlashView<float>;
using FlashInBf16 = FlashView<uint16_t>;  // bfloat16 bit patterns

// Which keys query i of head (b, h) sees, and what is added to its scores. All parts AND together.
struct FlashMask {
  bool causal = false;          // key j visible only when j <= i + causal_offset
  int64_t causal_offset = 0;    // 0: top-left alignment; Lk − Lq: bottom-right
  const int64_t* lens = nullptr;  // keys j >= lens[b·lens_sb + i·lens_si] are masked
  int64_t lens_sb = 0, lens_si = 0;
  const uint8_t* allowed = nullptr;  // 0 = masked; element (b, h, i, j) via the four strides
  int64_t allowed_sb = 0, allowed_sh = 0, allowed_si = 0, allowed_sj = 0;
  const float* bias = nullptr;       // added to the scaled scores (−inf masks)
  int64_t bias_sb = 0, bias_sh = 0, bias_si = 0, bias_sj = 0;
  double dropout_p = 0.0;            // weight (b,h,i,j) dropped when
  uint64_t dropout_seed = 0;         //   counter_uniform(seed, ((b·H+h)·Lq+i)·Lk+j) < p, kept ones × 1/(1−p)
  // Variants (sdpa.h's SdpaOptions), all aligned bottom-right with off = Lk − Lq:
  int64_t window_left = -1;          // key j visible only when j >= i + off − window_left (−1: no limit)
  int64_t window_right = -1;         // key j visible only when j <= i + off + window_right (−1: no limit)
  int64_t window_offset = 0;         // off = Lk − Lq
  const float* alibi = nullptr;      // slope of (b, h) at alibi[b·alibi_sb + h·alibi_sh]; score of
  int64_t alibi_sb = 0, alibi_sh = 0;  //   (i, j) gets − slope · |i + off − j| (after the softcap)
  float softcap = 0.0f;              // > 0: scaled scores s → softcap · tanh(s / softcap), before any bias
};

// True when the mask uses a variant (window, ALiBi or softcap) that the per-row variant code handles.
inline bool has_variant(const FlashMask& m) {
  return m.window_left >= 0 || m.window_right >= 0 || m.alibi != nullptr || m.softcap > 0.0f;
}

// What a forward saw of the keys' row norms while it packed them, so the caller's score-range
// check (sdpa_range.h) need not read K a second time: decoding (one query block per head) is
// bound by reading K and V from memory, and a separate pass over K cost it a fifth of its speed.
// The kernel measures only when it streams K (one query block per head, no grouped K/V) and only
// the key steps it visits; `rows` counts the key rows measured (each once), so the caller knows
// the figure covers all of K only when rows = B·Hkv·Lk. finite is false when a square or a sum
// overflowed float32 or met a NaN: the caller then measures K itself.
struct KeyNorms {
  double max_sq = 0.0;  // the largest Σ_c k[c]² over the rows measured
  int64_t rows = 0;
  bool finite = true;
};

// out (B, H, Lq, dv) and lse (B, H, Lq), both contiguous. key_norms (optional): see KeyNorms.
void flash_forward(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                   const FlashMask& mask, float* out, float* lse, KeyNorms* key_norms = nullptr);

// The (pre-dropout) weights exp(s − lse) into weights (B, H, Lq, Lk), contiguous.
void flash_weights(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const float* lse,
                   const FlashMask& mask, float* weights);

// Gradients into dq (B, H, Lq, d), dk (B, H, Lk, d), dv (B, H, Lk, dv), contiguous, overwritten.
// out and lse are what flash_forward returned; dout is the gradient of out.
void flash_backward(const FlashDims& dims, float scale, const FlashIn& q, const FlashIn& k, const FlashIn& v,
                    const FlashIn& out, const FlashIn& dout, const float* lse, const FlashMask& mask, float* dq,
                    float* dk, float* dv);

// bfloat16 inputs, float32 accumulation and outputs. Uses vdpbf16ps when the CPU has
// AVX512-BF16 and the call uses no variant (has_variant, grouped K/V); otherwise widens the
// inputs to float32 and runs flash_forward.
void flash_forward_bf16(const FlashDims& dims, float scale, const FlashInBf16& q, const FlashInBf16& k,
                        const FlashInBf16& v, const FlashMask& mask, float* out, float* lse,
                        KeyNorms* key_norms = nullptr);

// True when flash_forward_bf16 runs the AVX512-BF16 kernel: the CPU has AVX512-BF16 and the
// SIMD target Highway dispatches to is an AVX-512 one.
bool flash_bf16_native();

// The two kernels behind flash_forward_bf16.
enum class Bf16Kernel {
  native,   // vdpbf16ps products, weights rounded to bf16 before V; only where flash_bf16_native()
  widened,  // q, k, v widened to float32, then flash_forward (what CPUs without AVX512-BF16 run)
};

// flash_forward_bf16 with the kernel named instead of chosen, so tests cover both on one CPU.
// Throws qkv::Error when `kernel` is native and flash_bf16_native() is false, or the call uses a
// variant (the native kernel has none).
void flash_forward_bf16_with(Bf16Kernel kernel, const FlashDims& dims, float scale, const FlashInBf16& q,
                             const FlashInBf16& k, const FlashInBf16& v, const FlashMask& mask, float* out,
                             float* lse, KeyNorms* key_norms = nullptr);

}  // namespace qkv::kernels
