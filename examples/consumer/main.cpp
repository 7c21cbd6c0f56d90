// Uses the installed qkv: self-attention weights of three tokens, each row sums to 1.
#include <cmath>
#include <iostream>

#include <qkv/ops/sdpa/sdpa.h>

int main() {
  qkv::TensorF x = qkv::TensorF::from({1, 1, 3, 2}, {1.0f, 0.0f, 0.5f, 0.5f, 0.0f, 1.0f});
  qkv::SdpaOptions options;
  options.need_weights = true;
  auto result = qkv::sdpa_forward(x, x, x, {}, options);
  for (int64_t i = 0; i < 3; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 3; ++j) sum += result.weights.at({0, 0, i, j});
    if (std::abs(sum - 1.0) > 1e-5) {
      std::cerr << "row " << i << " sums to " << sum << "\n";
      return 1;
    }
  }
  std::cout << "qkv consumer: 3x3 attention weights, rows sum to 1; out[0] = (" << result.out.at({0, 0, 0, 0})
            << ", " << result.out.at({0, 0, 0, 1}) << ")\n";
  return 0;
}
