#include <gtest/gtest.h>

#include <cmath>

#include "qkv/core/tensor.h"

using qkv::Shape;
using qkv::TensorF;

TEST(Tensor, ZeroInitialisedContiguous) {
  TensorF t({2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t[i], 0.0f);
}

TEST(Tensor, ViewsShareStorage) {
  TensorF t = TensorF::from({2, 3}, {0, 1, 2, 3, 4, 5});
  TensorF tt = t.transpose(0, 1);
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.at({2, 1}), 5.0f);
  tt.at({0, 1}) = 42.0f;
  EXPECT_EQ(t.at({1, 0}), 42.0f);
  EXPECT_EQ(tt.contiguous().to_vector(), (std::vector<float>{0, 42, 1, 4, 2, 5}));
  TensorF row = t.select(0, 1);
  EXPECT_EQ(row.to_vector(), (std::vector<float>{42, 4, 5}));
  TensorF cols = t.slice(1, 1, 3);
  EXPECT_EQ(cols.to_vector(), (std::vector<float>{1, 2, 4, 5}));
}

TEST(Tensor, ExpandBroadcastsWithZeroStrides) {
  TensorF t = TensorF::from({1, 3}, {1, 2, 3});
  TensorF e = t.expand({2, 2, 3});
  EXPECT_EQ(e.strides(), (Shape{0, 0, 1}));
  EXPECT_EQ(e.to_vector(), (std::vector<float>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(t.broadcasts_to({5, 3}));
  EXPECT_FALSE(t.broadcasts_to({5, 4}));
  EXPECT_THROW(t.expand({2, 4}), qkv::Error);
}

TEST(Tensor, ViewInfersOneDimAndRejectsMismatch) {
  TensorF t({2, 3, 4});
  EXPECT_EQ(t.view({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_THROW(t.view({5, 5}), qkv::Error);
  EXPECT_THROW(t.transpose(0, 2).view({24}), qkv::Error);
  EXPECT_EQ(t.transpose(0, 2).reshape({24}).numel(), 24);
}

TEST(Tensor, BoundsAreChecked) {
  TensorF t({2, 2});
  EXPECT_THROW(t.at({2, 0}), qkv::Error);
  EXPECT_THROW(t.at({0}), qkv::Error);
  EXPECT_THROW(t.slice(0, 1, 3), qkv::Error);
  EXPECT_THROW(t.select(1, -1), qkv::Error);
  EXPECT_THROW(TensorF({2, -1}), qkv::Error);
}

TEST(Tensor, CheckShapeNamesArgumentExpectedAndActual) {
  TensorF k({2, 4, 7, 16});
  try {
    qkv::check_shape("sdpa", "k", k, {2, 4, -1, 32});
    FAIL() << "expected qkv::Error";
  } catch (const qkv::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'k'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(2, 4, 7, 16)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(2, 4, *, 32)"), std::string::npos) << msg;
  }
}

TEST(Tensor, CastAndCheckFinite) {
  TensorF t = TensorF::from({3}, {1.5f, -2.0f, 0.25f});
  auto d = t.cast<double>();
  EXPECT_DOUBLE_EQ(d[1], -2.0);
  EXPECT_NO_THROW(qkv::check_finite("op", "x", t));
  t[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(qkv::check_finite("op", "x", t), qkv::Error);
}

// ensure_shape keeps a buffer it alone owns when the new shape fits (batches of varying length
// reuse the largest one's storage), and never writes into storage another tensor still holds.
TEST(Tensor, EnsureShapeReusesStorageItAloneOwnsWhenTheShapeFits) {
  TensorF t;
  qkv::ensure_shape(t, {4, 8});
  const float* first = t.data();
  qkv::ensure_shape(t, {3, 5});
  EXPECT_EQ(t.data(), first);
  EXPECT_EQ(t.shape(), (Shape{3, 5}));
  EXPECT_TRUE(t.is_contiguous());
  qkv::ensure_shape(t, {2, 16});  // 32 elements: the first buffer's size again
  EXPECT_EQ(t.data(), first);
  qkv::ensure_shape(t, {5, 8});  // larger than it ever was: a new buffer
  EXPECT_NE(t.data(), first);
  EXPECT_EQ(t.numel(), 40);
}

TEST(Tensor, EnsureShapeLeavesStorageThatIsSharedOrAViewAlone) {
  TensorF t = TensorF::full({4, 8}, 2.0f);
  TensorF saved = t;  // e.g. a module's forward keeps its input for the backward
  qkv::ensure_shape(t, {3, 5});
  EXPECT_NE(t.data(), saved.data());
  for (float v : saved.to_vector()) EXPECT_EQ(v, 2.0f);

  TensorF whole = TensorF::full({4, 8}, 3.0f);
  TensorF rows = whole.slice(0, 1, 3);
  whole = TensorF();  // the slice now holds the storage alone, but does not start at its beginning
  const float* before = rows.data();
  qkv::ensure_shape(rows, {2, 2});
  EXPECT_NE(rows.data(), before);
}

#ifdef QKV_POISON_BUFFERS
// The poisoned build hands out NaN, so a module that reads an element it did not write fails.
TEST(Tensor, EnsureShapePoisonsWhatItHandsOut) {
  TensorF t = TensorF::full({2, 3}, 1.0f);
  qkv::ensure_shape(t, {2, 3});
  for (float v : t.to_vector()) EXPECT_TRUE(std::isnan(v));
}
#endif
