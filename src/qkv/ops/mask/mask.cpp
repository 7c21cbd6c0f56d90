// Validation and per-head reading of AttentionMask (see mask.h for the semantics).
#include "qkv/ops/mask/mask.h"

#include <cmath>

namespace qkv {

namespace {

std::string mask_shape_str(int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
  return shape_str({B, H, Lq, Lk});
}

}  // namespace

void validate_mask(const char* where, const AttentionMask& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
  const Shape full{B, H, Lq, Lk};
  if (mask.valid_lens.defined()) {
    const TensorI& lens = mask.valid_lens;
    QKV_CHECK(lens.rank() == 1 || lens.rank() == 2, where, ": argument 'valid_lens' has shape ",
              shape_str(lens.shape()), "; expected (", B, ",) or (", B, ", ", Lq, ")");
    if (lens.rank() == 1) {
      QKV_CHECK(lens.dim(0) == B, where, ": argument 'valid_lens' has shape ", shape_str(lens.shape()),
                "; expected (", B, ",) (one length per batch entry)");
    } else {
      QKV_CHECK(lens.dim(0) == B && lens.dim(1) == Lq, where, ": argument 'valid_lens' has shape ",
                shape_str(lens.shape()), "; expected (", B, ", ", Lq, ") (one length per query)");
    }
    int64_t bad = 0;
    bool found = false;
    lens.for_each_offset([&](int64_t off) {
      int64_t n = lens.data()[off];
      if (!found && (n < 0 || n > Lk)) {
        bad = n;
        found = true;
      }
    });
    QKV_CHECK(!found, where, ": argument 'valid_lens' contains the length ", bad, "; expected 0 <= length <= ",
              Lk, " (the number of keys)");
  }
  if (mask.allowed.defined()) {
    QKV_CHECK(mask.allowed.rank() <= 4 && mask.allowed.broadcasts_to(full), where,
              ": argument 'allowed' (boolean mask) has shape ", shape_str(mask.allowed.shape()),
              "; expected a shape broadcastable to ", mask_shape_str(B, H, Lq, Lk), " (B, H, Lq, Lk)");
  }
  if (mask.bias.defined()) {
    QKV_CHECK(mask.bias.rank() <= 4 && mask.bias.broadcasts_to(full), where,
              ": argument 'bias' (float mask) has shape ", shape_str(mask.bias.shape()),
              "; expected a shape broadcastable to ", mask_shape_str(B, H, Lq, Lk), " (B, H, Lq, Lk)");
    bool bad = false;
    mask.bias.for_each_offset([&](int64_t off) {
      float x = mask.bias.data()[off];
      if (std::isnan(x) || x == INFINITY) bad = true;
    });
    QKV_CHECK(!bad, where, ": argument 'bias' (float mask) contains NaN or +inf; expected finite values or -inf");
  }
}

MaskReader::MaskReader(const AttentionMask& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk)
    : mask_(mask), Lq_(Lq), Lk_(Lk) {
  const Shape full{B, H, Lq, Lk};
  if (mask.allowed.defined()) {
    allowed_ = mask.allowed.expand(full);
    allowed_si_ = allowed_.stride(2);
    allowed_sj_ = allowed_.stride(3);
  }
  if (mask.bias.defined()) {
    bias_ = mask.bias.expand(full);
    bias_si_ = bias_.stride(2);
    bias_sj_ = bias_.stride(3);
  }
  if (mask.valid_lens.defined()) {
    lens_storage_ = mask.valid_lens.contiguous();
    lens_ = lens_storage_.data();
    lens_per_query_ = lens_storage_.rank() == 2;
  }
  select(0, 0);
}

void MaskReader::select(int64_t b, int64_t h) {
  b_ = b;
  if (allowed_.defined() && allowed_.numel() > 0)
    allowed_head_ = allowed_.data() + b * allowed_.stride(0) + h * allowed_.stride(1);
  if (bias_.defined() && bias_.numel() > 0) bias_head_ = bias_.data() + b * bias_.stride(0) + h * bias_.stride(1);
}

int64_t MaskReader::key_limit(int64_t i) const {
  if (!lens_) return Lk_;
  return lens_per_query_ ? lens_[b_ * Lq_ + i] : lens_[b_];
}

bool MaskReader::visible(int64_t i, int64_t j) const {
  if (!causal_allows(mask_.causal, i, j, Lq_, Lk_)) return false;
  if (lens_ && j >= key_limit(i)) return false;
  if (allowed_head_ && !allowed_head_[i * allowed_si_ + j * allowed_sj_]) return false;
  return true;
}

float MaskReader::bias(int64_t i, int64_t j) const {
  return bias_head_ ? bias_head_[i * bias_si_ + j * bias_sj_] : 0.0f;
}

}  // namespace qkv
