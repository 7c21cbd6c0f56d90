// The one reference of the 2-D convolution (conv2d.h has the formulas and the glossary): plain
// loops, every sum in double. It is the double backend and the twin the float path is tested against.
#pragma once

#include <cstdint>
#include <vector>

#include "qkv/ops/conv2d/conv2d.h"

namespace qkv {

template <typename T>
void conv2d_reference_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t C = s.in_channels, H = s.height, W = s.width, k = s.kernel, OH = s.out_height(), OW = s.out_width();
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < s.out_channels; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double acc = b ? static_cast<double>(b[o]) : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < k; ++u)
              for (int64_t v = 0; v < k; ++v) {
                const int64_t yy = i * s.stride + u - s.padding, xx = j * s.stride + v - s.padding;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += static_cast<double>(w[((o * C + c) * k + u) * k + v]) *
                       static_cast<double>(x[((n * C + c) * H + yy) * W + xx]);
              }
          y[((n * s.out_channels + o) * OH + i) * OW + j] = static_cast<T>(acc);
        }
}

template <typename T>
void conv2d_reference_backward(const Conv2dShape& s, const T* dy, const T* x, const T* w, T* dx, T* dw, T* db) {
  const int64_t C = s.in_channels, H = s.height, W = s.width, k = s.kernel, O = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width();
  // Visits every (n, o, i, j, c, u, v) term of the forward once; calls f(x index, w index, dy index).
  auto each_term = [&](auto&& f) {
    for (int64_t n = 0; n < s.batch; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < OH; ++i)
          for (int64_t j = 0; j < OW; ++j)
            for (int64_t c = 0; c < C; ++c)
              for (int64_t u = 0; u < k; ++u)
                for (int64_t v = 0; v < k; ++v) {
                  const int64_t yy = i * s.stride + u - s.padding, xx = j * s.stride + v - s.padding;
                  if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                  f(((n * C + c) * H + yy) * W + xx, ((o * C + c) * k + u) * k + v, ((n * O + o) * OH + i) * OW + j);
                }
  };
  if (dx) {
    std::vector<double> acc(static_cast<size_t>(s.batch * C * H * W), 0.0);
    each_term([&](int64_t xi, int64_t wi, int64_t yi) { acc[static_cast<size_t>(xi)] += double(dy[yi]) * double(w[wi]); });
    for (size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<T>(acc[i]);
  }
  std::vector<double> gw(static_cast<size_t>(O * C * k * k), 0.0);
  each_term([&](int64_t xi, int64_t wi, int64_t yi) { gw[static_cast<size_t>(wi)] += double(dy[yi]) * double(x[xi]); });
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = static_cast<T>(double(dw[i]) + gw[i]);
  if (db) {
    for (int64_t o = 0; o < O; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < s.batch; ++n)
        for (int64_t p = 0; p < OH * OW; ++p) acc += double(dy[(n * O + o) * OH * OW + p]);
      db[o] = static_cast<T>(double(db[o]) + acc);
    }
  }
}

}  // namespace qkv
