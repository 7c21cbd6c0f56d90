#include <algorithm>
#include <cmath>
#include <filesystem>

#include "qkv/demos/explain_steps.h"
#include "qkv/kernels/gemm.h"
#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/pictures/font.h"
#include "qkv/pictures/image.h"

namespace qkv::demos::explain_steps {

// C = A Bᵀ (trans_b) or A B for row-major 2-D tensors.
TensorF matmul(const TensorF& a, const TensorF& b, bool trans_b) {
  TensorF A = a.contiguous(), B = b.contiguous();
  int64_t M = A.dim(0), K = A.dim(1), N = trans_b ? B.dim(0) : B.dim(1);
  QKV_CHECK((trans_b ? B.dim(1) : B.dim(0)) == K, "matmul: inner sizes differ: ", shape_str(A.shape()), " and ",
            shape_str(B.shape()));
  TensorF C({M, N});
  kernels::gemm(false, trans_b, M, N, K, 1.0f, A.data(), K, B.data(), B.dim(1), 0.0f, C.data(), N);
  return C;
}

TensorF softmax_rows(const TensorF& s) {
  return masked_softmax(s.contiguous().view({1, s.dim(0), s.dim(1)})).view({s.dim(0), s.dim(1)});
}

TensorF scaled(const TensorF& s, float k) {
  TensorF t = s.clone();
  for (int64_t i = 0; i < t.numel(); ++i) t[i] *= k;
  return t;
}

double max_abs_diff(const TensorF& a, const TensorF& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::abs(static_cast<double>(va[i]) - vb[i]));
  return m;
}


int display_width(const std::string& s) {
  int w = 0;
  for (char32_t c : pictures::decode_utf8(s)) w += (c >= 0x2E80 && c <= 0xFFFF) || c >= 0x20000 ? 2 : 1;
  return w;
}



std::vector<std::string> numbered(const std::string& prefix, int64_t n) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

pictures::HeatmapPanel panel(const TensorF& m, const std::string& title, const std::vector<std::string>& rows,
                       const std::vector<std::string>& cols, const std::string& row_axis,
                       const std::string& col_axis) {
  pictures::HeatmapPanel p = pictures::heatmap_panel(m, title);
  p.row_labels = rows;
  p.col_labels = cols;
  p.row_axis = row_axis;
  p.col_axis = col_axis;
  return p;
}

void save(ExplainResult& r, const ExplainOptions& o, std::ostream& out, const std::string& name,
          const pictures::Image& image) {
  if (o.out_dir.empty()) return;
  std::string path = (std::filesystem::path(o.out_dir) / name).string();
  pictures::write_png(path, image);
  r.files.push_back({path, image.width, image.height});
  out << "wrote " << path << " (" << image.width << "x" << image.height << ")\n";
}

}  // namespace qkv::demos::explain_steps
