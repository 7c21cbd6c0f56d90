// `qkv explain`: the attention mechanism step by step with real numbers (demos/explain.h).
#include <iostream>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/demos/explain.h"
#include "qkv/demos/explain_page.h"
#include "qkv/pictures/html_page.h"

namespace {

qkv::cli::Command reg(
    "explain", "The attention mechanism step by step: XXᵀ, softmax, projections and 1/√d, heads, channels",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto o = std::make_shared<qkv::demos::ExplainOptions>();
      auto tokens = std::make_shared<std::string>();
      auto colormap = std::make_shared<std::string>("viridis");
      auto html = std::make_shared<std::string>();
      app.add_option("--tokens", *tokens, "Tokens separated by spaces (\"the cat sat\"), or characters (\"早上好\")")
          ->check(CLI::Validator(
              [](std::string& text) -> std::string {
                return qkv::demos::split_tokens(text).empty() ? "expected at least one token, got '" + text + "'" : "";
              },
              "at least one token"));
      app.add_option("--embeddings", o->embeddings_file, "File with lines \"token v1 v2 ... vd\" (default: seeded)")
          ->check(qkv::cli::non_empty());
      app.add_option("--dim", o->dim, "Width d of the seeded embeddings")->check(qkv::cli::int_in(1, 4096))->capture_default_str();
      app.add_option("--head-dim", o->head_dim, "Width of Q and K in step 2 (0: d)")->check(qkv::cli::int_in(0, 4096))->capture_default_str();
      app.add_option("--seed", o->seed, "Seed of embeddings and weights")->capture_default_str();
      app.add_option("--heads", o->heads, "Heads in step 3")->check(qkv::cli::int_in(1, 64))->capture_default_str();
      app.add_option("--mha-head-dim", o->mha_head_dim, "Width of each head in step 3")->check(qkv::cli::int_in(1, 256))->capture_default_str();
      app.add_option("--channels", o->channels, "Channels of the feature map in step 4")->check(qkv::cli::int_in(1, 1024))->capture_default_str();
      app.add_option("--reduction", o->reduction, "Squeeze-and-excitation reduction r")->check(qkv::cli::int_in(1, 1024))->capture_default_str();
      app.add_option("--out", o->out_dir, "Write the heatmaps (explain_*.png) to this directory")->check(qkv::cli::non_empty());
      app.add_option("--colormap", *colormap, "viridis, magma or gray")->capture_default_str();
      app.add_option("--html", *html, "Write an interactive page (self-contained HTML) to this file")
          ->check(qkv::cli::non_empty());
      return [o, tokens, colormap, html] {
        if (!tokens->empty()) o->tokens = qkv::demos::split_tokens(*tokens);
        o->colormap = qkv::pictures::parse_colormap(*colormap);
        if (!html->empty()) qkv::pictures::check_output_file(*html, "qkv explain: --html");
        auto result = qkv::demos::run_explain(*o, std::cout);
        if (html->empty()) return 0;
        qkv::pictures::write_text_file(*html, qkv::demos::explain_page_html(result), "qkv explain: --html");
        std::cout << "wrote " << *html << "\n";
        return 0;
      };
    });

}  // namespace
