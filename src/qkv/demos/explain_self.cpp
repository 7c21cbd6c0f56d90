#include "qkv/demos/explain_steps.h"

#include "qkv/ops/sdpa/sdpa.h"

namespace qkv::demos::explain_steps {

void self_attention(const ExplainOptions& o, std::ostream& out, ExplainResult& r) {
  const std::vector<std::string>& tok = r.tokens;
  const int64_t n = r.X.dim(0), d = r.X.dim(1);
  const std::vector<std::string> dims = numbered("d", d);
  // ---- 1. self-attention without parameters ----
  out << "== 1. Self-attention without parameters: every token is query, key and value ==\n\n";
  out << (o.embeddings_file.empty() ? "Embeddings X (seeded N(0, 1), one row per token):\n"
                                    : "Embeddings X (from " + o.embeddings_file + "):\n");
  print_matrix(out, "X", r.X, tok, dims);
  r.scores = matmul(r.X, r.X, /*trans_b=*/true);
  print_matrix(out, "S = X Xᵀ  (dot-product similarity of every pair of tokens)", r.scores, tok, tok);
  r.weights = softmax_rows(r.scores);
  print_matrix(out, "A = softmax(S) row by row  (row i: how much token i attends to each token)", r.weights, tok, tok,
               /*row_sums=*/true);
  r.output = matmul(r.weights, r.X);
  print_matrix(out, "Y = A X  (each output is a weighted average of the embeddings)", r.output, tok, dims);
  {
    TensorF q = r.X.view({1, 1, n, d});
    SdpaOptions so;
    so.scale = 1.0;
    auto f = sdpa_forward(q, q, q, {}, so, AttentionBackend::reference);
    r.sdpa_max_diff = max_abs_diff(f.out.view({n, d}), r.output);
    out << "scaled_dot_product_attention(X, X, X, scale=1) gives the same Y: max |difference| = " << r.sdpa_max_diff
        << "\n\n";
  }
  save(r, o, out, "explain_self.png",
       pictures::render_heatmap({panel(r.scores, "S = XXᵀ (similarity)", tok, tok, "query", "key"),
                           panel(r.weights, "A = softmax(XXᵀ) (rows sum to 1)", tok, tok, "query", "key")},
                          {.title = "Self-attention without parameters", .colormap = o.colormap,
                           .shared_scale = false}));
}

}  // namespace qkv::demos::explain_steps
