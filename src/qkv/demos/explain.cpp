#include "qkv/demos/explain.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "qkv/core/rng.h"
#include "qkv/demos/embeddings_file.h"
#include "qkv/demos/explain_steps.h"

namespace qkv::demos {

using namespace explain_steps;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string pad_left(const std::string& s, int width) {
  return std::string(static_cast<size_t>(std::max(0, width - display_width(s))), ' ') + s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

}  // namespace

std::vector<std::string> split_tokens(const std::string& text) {
  std::vector<std::string> out;
  if (text.find_first_of(" \t") != std::string::npos) {
    std::istringstream ss(text);
    std::string t;
    while (ss >> t) out.push_back(t);
    return out;
  }
  // No spaces: one token per character (UTF-8 aware), so "早上好" is three tokens.
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    out.push_back(text.substr(i, len));
    i += len;
  }
  return out;
}

void print_matrix(std::ostream& out, const std::string& title, const TensorF& m,
                  const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                  bool row_sums, int decimals) {
  TensorF a = m.contiguous();
  int64_t R = a.dim(0), C = a.dim(1);
  std::vector<std::vector<std::string>> cells(static_cast<size_t>(R));
  int w = 0;
  for (const auto& c : col_labels) w = std::max(w, display_width(c));
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) {
      cells[static_cast<size_t>(i)].push_back(fixed(a.data()[i * C + j], decimals));
      w = std::max(w, display_width(cells[static_cast<size_t>(i)].back()));
    }
  int lw = 0;
  for (const auto& r : row_labels) lw = std::max(lw, display_width(r));
  out << title << "  " << shape_str(a.shape()) << "\n";
  out << std::string(static_cast<size_t>(lw + 2), ' ');
  for (int64_t j = 0; j < C; ++j) out << ' ' << pad_left(j < static_cast<int64_t>(col_labels.size()) ? col_labels[static_cast<size_t>(j)] : "", w);
  if (row_sums) out << "   " << pad_left("row sum", w);
  out << "\n";
  for (int64_t i = 0; i < R; ++i) {
    out << "  " << pad_left(i < static_cast<int64_t>(row_labels.size()) ? row_labels[static_cast<size_t>(i)] : "", lw);
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) {
      out << ' ' << pad_left(cells[static_cast<size_t>(i)][static_cast<size_t>(j)], w);
      sum += a.data()[i * C + j];
    }
    if (row_sums) out << "   " << pad_left(fixed(sum, decimals), w);
    out << "\n";
  }
  out << "\n";
}

ExplainResult run_explain(const ExplainOptions& o, std::ostream& out) {
  QKV_CHECK(o.dim >= 1 && o.dim <= 4096, kWhere, ": --dim is ", o.dim, "; expected 1..4096");
  QKV_CHECK(o.head_dim >= 0 && o.head_dim <= 4096, kWhere, ": --head-dim is ", o.head_dim, "; expected 0..4096");
  QKV_CHECK(o.heads >= 1 && o.mha_head_dim >= 1, kWhere, ": --heads ", o.heads, " and --mha-head-dim ",
            o.mha_head_dim, " must be positive");
  QKV_CHECK(o.channels >= 1 && o.reduction >= 1 && o.spatial >= 1, kWhere, ": --channels ", o.channels,
            ", --reduction ", o.reduction, " and --spatial ", o.spatial, " must be positive");
  QKV_CHECK(o.variance_samples >= 16, kWhere, ": variance_samples is ", o.variance_samples, "; expected >= 16");
  ExplainResult r;

  // ---- tokens and embeddings ----
  std::vector<std::vector<float>> rows;
  if (!o.embeddings_file.empty()) {
    Embeddings e = read_embeddings(o.embeddings_file);
    r.tokens = o.tokens.empty() ? e.tokens : o.tokens;
    for (const auto& t : r.tokens) {
      auto it = std::find(e.tokens.begin(), e.tokens.end(), t);
      if (it == e.tokens.end())
        throw FileError(str(kWhere, ": token '", t, "' is not in the embeddings file '", o.embeddings_file, "'"));
      rows.push_back(e.rows[static_cast<size_t>(it - e.tokens.begin())]);
    }
  } else {
    r.tokens = o.tokens.empty() ? std::vector<std::string>{"早", "上", "好"} : o.tokens;
    for (const auto& t : r.tokens) {
      Rng rng(fnv1a(t) ^ o.seed);  // the same token always gets the same embedding
      std::vector<float> row;
      for (int64_t j = 0; j < o.dim; ++j) row.push_back(static_cast<float>(rng.normal()));
      rows.push_back(row);
    }
  }
  QKV_CHECK(!r.tokens.empty() && r.tokens.size() <= 64, kWhere, ": ", r.tokens.size(),
            " tokens given; expected 1..64");
  const auto& tok = r.tokens;
  const int64_t n = static_cast<int64_t>(tok.size()), d = static_cast<int64_t>(rows.front().size());
  r.X = TensorF({n, d});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) r.X.at({i, j}) = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    QKV_CHECK(!ec, kWhere, ": cannot create the output directory '", o.out_dir, "': ", ec.message());
  }

  self_attention(o, out, r);
  projections_and_scale(o, out, r);
  multihead(o, out, r);
  channel_attention(o, out, r);
  return r;
}

}  // namespace qkv::demos
