// Scores that overflow or that float32 cannot resolve are an error in every backend and both
// directions (never zeros, inf weights or non-finite gradients from finite inputs), while
// large but representable inputs still match the float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradcheck.h"
#include "qkv/ops/sdpa/sdpa.h"

using namespace qkv;

namespace {

template <typename F>
void expect_error_with(F&& f, const std::string& piece, const std::string& label) {
  try {
    f();
    ADD_FAILURE() << label << ": no exception; expected one mentioning '" << piece << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << label << ": " << e.what();
  }
}

TensorF filled(Shape s, float value) {
  TensorF t(s);
  t.fill(value);
  return t;
}

Tensor<bf16> to_bf16(const TensorF& t) {
  Tensor<bf16> out(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = bf16(t[i]);
  return out;
}

}  // namespace

TEST(SdpaRange, HugeFiniteScoresAreAnErrorInEveryBackend) {
  Rng rng(4);
  const TensorF big = filled({1, 2, 5, 8}, 1e20f), v = test::randn<float>({1, 2, 5, 3}, rng);
  SdpaOptions need;
  need.need_weights = true;
  for (auto backend : {AttentionBackend::reference, AttentionBackend::fused}) {
    const std::string label = backend == AttentionBackend::fused ? "fused" : "reference";
    expect_error_with([&] { sdpa_forward(big, big, v, {}, {}, backend); }, "the scores are too large for float32",
                      label);
    expect_error_with([&] { sdpa_forward(big, big, v, {}, need, backend); }, "'q'", label);
  }
  expect_error_with([&] { sdpa_forward(to_bf16(big), to_bf16(big), to_bf16(v)); }, "too large", "bf16");
  const TensorD bigd = filled({1, 1, 3, 4}, 1e20f).cast<double>();
  expect_error_with([&] { sdpa_forward(bigd, bigd, bigd); }, "too large for float64", "float64");
}

TEST(SdpaRange, HugeScaleIsAnErrorForwardAndBackward) {
  Rng rng(5);
  TensorF q = test::randn<float>({1, 1, 4, 8}, rng), k = test::randn<float>({1, 1, 6, 8}, rng),
          v = test::randn<float>({1, 1, 6, 2}, rng);
  SdpaOptions o;
  o.scale = 1e30;
  o.need_weights = true;
  SdpaOptions ok;
  ok.need_weights = true;
  for (auto backend : {AttentionBackend::reference, AttentionBackend::fused}) {
    const std::string label = backend == AttentionBackend::fused ? "fused" : "reference";
    expect_error_with([&] { sdpa_forward(q, k, v, {}, o, backend); }, "scale q, k or 'scale' down", label);
    auto fwd = sdpa_forward(q, k, v, {}, ok, backend);
    expect_error_with([&] { sdpa_backward(filled({1, 1, 4, 2}, 1.0f), q, k, v, fwd, {}, o, backend); },
                      "too large", label);
  }
  o.scale = 1e300;  // finite as a double, inf as a float
  expect_error_with([&] { sdpa_forward(q, k, v, {}, o); }, "'scale' is 1e+300; it overflows float32", "scale");
}

TEST(SdpaRange, OverflowingGradientsFromFiniteInputsAreAnError) {
  Rng rng(6);
  TensorF q = test::randn<float>({1, 1, 4, 8}, rng), k = test::randn<float>({1, 1, 2, 8}, rng),
          v = test::randn<float>({1, 1, 2, 3}, rng);
  const TensorF dout = filled({1, 1, 4, 3}, 3e38f);  // dv sums 4 queries' 3e38: beyond float32
  for (auto backend : {AttentionBackend::reference, AttentionBackend::fused}) {
    const std::string label = backend == AttentionBackend::fused ? "fused" : "reference";
    auto fwd = sdpa_forward(q, k, v, {}, {}, backend);
    expect_error_with([&] { sdpa_backward(dout, q, k, v, fwd, {}, {}, backend); }, "overflows", label);
  }
  auto fwd = sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v));
  expect_error_with([&] { sdpa_backward(dout, to_bf16(q), to_bf16(k), to_bf16(v), fwd); }, "overflows", "bf16");
}

TEST(SdpaRange, LargeRepresentableInputsStillMatchTheFloat64Reference) {
  Rng rng(7);
  // Entries near 100: scores of a few thousand, far inside the bound; a hard but exact softmax.
  TensorF q = test::randn<float>({1, 2, 5, 16}, rng), k = test::randn<float>({1, 2, 7, 16}, rng),
          v = test::randn<float>({1, 2, 7, 4}, rng);
  for (int64_t i = 0; i < q.numel(); ++i) q[i] *= 100;
  for (int64_t i = 0; i < k.numel(); ++i) k[i] *= 3;
  auto ref = sdpa_forward(q.cast<double>(), k.cast<double>(), v.cast<double>());
  for (auto backend : {AttentionBackend::reference, AttentionBackend::fused}) {
    auto f = sdpa_forward(q, k, v, {}, {}, backend);
    EXPECT_TRUE(test::tensors_close(backend == AttentionBackend::fused ? "fused" : "reference", f.out.cast<double>(), ref.out, 5e-3));
  }
}

TEST(SdpaRange, OneHugeKeyRowIsFoundAnywhereInAManyChunkTensor) {
  // (3, 5, 37, 64): 555 rows of K in chunks of 256; the check must see one huge row wherever it
  // sits (chunk edges, the last row), also when K is a strided view.
  Rng rng(8);
  const TensorF q = test::randn<float>({3, 5, 4, 64}, rng), v = test::randn<float>({3, 5, 37, 8}, rng);
  const TensorF k0 = test::randn<float>({3, 5, 37, 64}, rng);
  EXPECT_NO_THROW(sdpa_forward(q, k0, v));
  for (int64_t row : {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{300}, int64_t{511}, int64_t{512}, int64_t{554}}) {
    TensorF k = k0.clone();
    for (int64_t c = 0; c < 64; ++c) k[row * 64 + c] = 1e6f;
    expect_error_with([&] { sdpa_forward(q, k, v); }, "too large", "row " + std::to_string(row));
    TensorF kt({3, 37, 5, 64});  // the same values laid out (B, L, H, d), viewed as (B, H, L, d)
    kt.transpose(1, 2).copy_from(k);
    expect_error_with([&] { sdpa_forward(q, kt.transpose(1, 2), v); }, "too large", "strided row " + std::to_string(row));
  }
}

TEST(SdpaRange, DecodingFindsOneHugeKeyRowInTheKernelsOwnMeasureAndBehindAMask) {
  // Lq = 1 against 2000 keys: the kernels measure K while streaming it (split over the threads in
  // float32), and the check must still see one huge row wherever it sits, in float32 and bf16. A
  // huge row past a sequence's valid length is never streamed; the check measures K itself then.
  Rng rng(9);
  const TensorF q = test::randn<float>({2, 2, 1, 64}, rng), v = test::randn<float>({2, 2, 2000, 16}, rng);
  const TensorF k0 = test::randn<float>({2, 2, 2000, 64}, rng);
  AttentionMask lens;
  lens.valid_lens = TensorI({2});
  lens.valid_lens[0] = 1500;
  lens.valid_lens[1] = 2000;
  EXPECT_NO_THROW(sdpa_forward(q, k0, v));
  EXPECT_NO_THROW(sdpa_forward(to_bf16(q), to_bf16(k0), to_bf16(v), lens));
  for (int64_t row : {int64_t{0}, int64_t{1023}, int64_t{1999}, int64_t{2000 + 1700}, int64_t{3 * 2000 + 1999}}) {
    TensorF k = k0.clone();
    for (int64_t c = 0; c < 64; ++c) k[row * 64 + c] = 1e6f;
    const std::string label = "row " + std::to_string(row);
    expect_error_with([&] { sdpa_forward(q, k, v); }, "too large", label + " float32");
    expect_error_with([&] { sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v)); }, "too large", label + " bf16");
    expect_error_with([&] { sdpa_forward(q, k, v, lens); }, "too large", label + " float32 valid_lens");
    expect_error_with([&] { sdpa_forward(to_bf16(q), to_bf16(k), to_bf16(v), lens); }, "too large",
                      label + " bf16 valid_lens");
  }
}

TEST(SdpaRange, TheBoundUsesRowNormsNotTheLargestEntryTimesRootD) {
  // One entry of 300 per row: ‖row‖ = 300, while √d·max|x| would be 8·300. The bound from the
  // row norms, 0.125·300·300·64 = 720,000, is far inside 2^24 (one from √d·max|x| would be 46
  // million), so these inputs are accepted; a row of 1000s (norm 8000) takes it to 19.2 million.
  Rng rng(9);
  TensorF q({1, 2, 5, 64}), k({1, 2, 7, 64});
  for (int64_t r = 0; r < q.numel() / 64; ++r) q[r * 64 + r % 64] = 300.0f;
  for (int64_t r = 0; r < k.numel() / 64; ++r) k[r * 64 + (3 * r) % 64] = (r % 2 ? -300.0f : 300.0f);
  const TensorF v = test::randn<float>({1, 2, 7, 4}, rng), dout = test::randn<float>({1, 2, 5, 4}, rng);
  auto ref = sdpa_forward(q.cast<double>(), k.cast<double>(), v.cast<double>());
  for (auto backend : {AttentionBackend::reference, AttentionBackend::fused}) {
    const std::string label = backend == AttentionBackend::fused ? "fused" : "reference";
    try {
      const SdpaForward<float> f = sdpa_forward(q, k, v, {}, {}, backend);
      EXPECT_TRUE(test::tensors_close(label, f.out.cast<double>(), ref.out, 1e-5));
      EXPECT_NO_THROW(sdpa_backward(dout, q, k, v, f, {}, {}, backend)) << label;
    } catch (const Error& e) {
      ADD_FAILURE() << label << ": " << e.what();
    }
  }
  for (int64_t c = 0; c < 64; ++c) q[c] = 1000.0f;
  expect_error_with([&] { sdpa_forward(q, k, v); }, "too large", "a full row of 1000");
}
