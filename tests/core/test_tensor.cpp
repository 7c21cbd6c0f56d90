#include <gtest/gtest.h>

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
