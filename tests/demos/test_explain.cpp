// `qkv explain`: every step runs end to end with real numbers (rows of every weight matrix sum
// to 1, the hand-made paths agree with sdpa and nn::MultiheadAttention, Var(q·k) ≈ d), tokens
// and embeddings files are read as documented, and the heatmaps are valid PNGs of the size drawn.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "qkv/demos/embeddings_file.h"
#include "qkv/demos/explain.h"
#include "qkv/pictures/image.h"

namespace fs = std::filesystem;
using namespace qkv;

namespace {

void expect_rows_sum_to_one(const TensorF& w, const char* what) {
  TensorF a = w.contiguous();
  int64_t cols = a.dim(-1), rows = a.numel() / cols;
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) {
      float v = a.data()[i * cols + j];
      EXPECT_GE(v, 0.0f) << what;
      s += v;
    }
    EXPECT_NEAR(s, 1.0, 1e-5) << what << " row " << i;
  }
}

}  // namespace

TEST(Explain, DefaultRunsEndToEndAndWritesValidImages) {
  demos::ExplainOptions o;
  o.out_dir = qkv::test::temp_dir("explain_default", false).string();
  o.variance_samples = 1600;
  std::ostringstream out;
  demos::ExplainResult r = demos::run_explain(o, out);
  ASSERT_EQ(r.tokens, (std::vector<std::string>{"早", "上", "好"}));
  EXPECT_EQ(r.X.shape(), (Shape{3, 4}));
  expect_rows_sum_to_one(r.weights, "softmax(XXᵀ)");
  expect_rows_sum_to_one(r.weights_unscaled, "softmax(QKᵀ)");
  expect_rows_sum_to_one(r.weights_scaled, "softmax(QKᵀ/√d)");
  expect_rows_sum_to_one(r.mha_head_weights, "head weights");
  EXPECT_LT(r.sdpa_max_diff, 1e-5);
  EXPECT_LT(r.mha_max_diff, 1e-5);
  // XXᵀ is symmetric; the classic shape trace holds.
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(r.scores.at({i, j}), r.scores.at({j, i}));
  EXPECT_EQ(r.mha_input.shape(), (Shape{2, 4}));
  EXPECT_EQ(r.mha_head_weights.shape(), (Shape{8, 2, 2}));
  EXPECT_EQ(r.mha_concat.shape(), (Shape{2, 24}));
  EXPECT_EQ(r.mha_output.shape(), (Shape{2, 4}));
  for (float g : r.se_weights.to_vector()) {
    EXPECT_GT(g, 0.0f);
    EXPECT_LT(g, 1.0f);
  }
  // The printout shows each step and the CJK tokens.
  std::string text = out.str();
  for (const char* s : {"S = X Xᵀ", "row sum", "softmax(Q Kᵀ / √4)", "Var(q·k)", "(2, 24)", "(24, 4)",
                        "squeeze", "早", "好"})
    EXPECT_NE(text.find(s), std::string::npos) << s;
  // Files: valid PNGs of the size drawn.
  ASSERT_EQ(r.files.size(), 5u);
  for (const auto& f : r.files) {
    pictures::Image im = pictures::read_png(f.path);
    EXPECT_EQ(im.width, f.width) << f.path;
    EXPECT_EQ(im.height, f.height) << f.path;
    EXPECT_GT(im.width, 150) << f.path;
    EXPECT_GT(im.height, 150) << f.path;
  }
  fs::remove_all(o.out_dir);
}

TEST(Explain, ScaleKeepsTheVarianceOfQkNearOne) {
  demos::ExplainOptions o;
  o.variance_samples = 3200;
  std::ostringstream out;
  auto r = demos::run_explain(o, out);
  ASSERT_EQ(r.variance.size(), 5u);
  for (const auto& v : r.variance) {
    EXPECT_NEAR(v.var_raw / static_cast<double>(v.d), 1.0, 0.15) << "d = " << v.d;
    EXPECT_NEAR(v.var_scaled, 1.0, 0.15) << "d = " << v.d;
  }
  // Without the scale the softmax saturates as d grows; with it, it does not.
  EXPECT_GT(r.variance.back().max_weight_raw, 0.85);
  EXPECT_LT(r.variance.back().max_weight_scaled, 0.5);
  EXPECT_GT(r.variance.back().max_weight_raw, r.variance.front().max_weight_raw);
}

TEST(Explain, TokensAndEmbeddingsFile) {
  EXPECT_EQ(demos::split_tokens("the cat sat"), (std::vector<std::string>{"the", "cat", "sat"}));
  EXPECT_EQ(demos::split_tokens("早上好"), (std::vector<std::string>{"早", "上", "好"}));
  auto dir = qkv::test::temp_dir("explain_emb", false);
  fs::create_directories(dir);
  auto file = (dir / "emb.txt").string();
  std::ofstream(file) << "# token and 3 values\nthe 1 0 0\ncat 0 1 0\nsat 0 0 1\nmat 0 0.5 0.5\n";
  demos::ExplainOptions o;
  o.embeddings_file = file;
  o.tokens = {"cat", "sat", "the"};
  o.variance_samples = 160;
  std::ostringstream out;
  auto r = demos::run_explain(o, out);
  ASSERT_EQ(r.X.shape(), (Shape{3, 3}));
  EXPECT_FLOAT_EQ(r.X.at({0, 1}), 1.0f);  // "cat"
  EXPECT_FLOAT_EQ(r.X.at({2, 0}), 1.0f);  // "the"
  // Orthonormal embeddings: XXᵀ = I, softmax rows are e/(e + 2).
  EXPECT_NEAR(r.weights.at({0, 0}), std::exp(1.0) / (std::exp(1.0) + 2), 1e-6);
  // Without --tokens: the file's tokens in order.
  o.tokens.clear();
  EXPECT_EQ(demos::run_explain(o, out).tokens.size(), 4u);
  // Hostile files.
  o.tokens = {"dog"};
  EXPECT_THROW(demos::run_explain(o, out), qkv::FileError);
  std::ofstream(file) << "a 1 2\nb 1\n";
  o.tokens.clear();
  EXPECT_THROW(demos::run_explain(o, out), qkv::FileError);
  std::ofstream(file) << "a 1 x\n";
  EXPECT_THROW(demos::run_explain(o, out), qkv::FileError);
  o.embeddings_file = (dir / "missing.txt").string();
  EXPECT_THROW(demos::run_explain(o, out), qkv::FileError);
  fs::remove_all(dir);
}

TEST(Explain, SameTokenSameEmbedding) {
  demos::ExplainOptions o;
  o.tokens = {"the", "cat", "the"};
  o.variance_samples = 160;
  std::ostringstream out;
  auto r = demos::run_explain(o, out);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(r.X.at({0, j}), r.X.at({2, j}));
  expect_rows_sum_to_one(r.weights, "weights");
}

TEST(Explain, CommandRunsWithTokens) {
  auto dir = qkv::test::temp_dir("explain_cli", false);
  std::string cmd = std::string(QKV_CLI_PATH) + " explain --tokens \"the cat sat\" --out " + dir.string() + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::array<char, 4096> buf{};
  std::string out;
  while (fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  ASSERT_EQ(pclose(pipe), 0) << out;
  EXPECT_NE(out.find("cat"), std::string::npos);
  for (const char* name : {"explain_self.png", "explain_qkv.png", "explain_scale.png", "explain_heads.png",
                           "explain_channels.png"}) {
    pictures::Image im = pictures::read_png((dir / name).string());
    EXPECT_GT(im.width, 150) << name;
  }
  fs::remove_all(dir);
}

TEST(Explain, EmbeddingsFileValuesAndWidthAreBounded) {
  auto dir = qkv::test::temp_dir("explain_emblimits", false);
  fs::create_directories(dir);
  const std::string file = (dir / "emb.txt").string();
  auto expect_error = [&](const std::string& text, const std::string& piece) {
    std::ofstream(file, std::ios::trunc) << text;
    try {
      demos::read_embeddings(file);
      ADD_FAILURE() << "no exception for: " << text.substr(0, 60);
    } catch (const qkv::FileError& e) {
      EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  };
  // 1e30 is finite but X·Xᵀ overflows float32 (the demo would print NaN weights).
  expect_error("a 1e30 0\nb 0 1\n", "line 1: value 1e30 is larger in magnitude than the limit");
  std::string wide = "a";
  for (int i = 0; i < 5000; ++i) wide += " 1";
  expect_error(wide + "\n", "has more than 4096 values");
  std::ofstream(file, std::ios::trunc) << "x 1000000 -1000000\n";
  auto e = demos::read_embeddings(file);
  EXPECT_EQ(e.rows.front(), (std::vector<float>{1e6f, -1e6f}));
  fs::remove_all(dir);
}
