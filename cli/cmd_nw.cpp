// `qkv nw`: Nadaraya–Watson kernel regression as attention pooling (demos/nw_regression.h).
#include <iostream>
#include <memory>

#include "command.h"
#include "validators.h"
#include "qkv/demos/nw_page.h"
#include "qkv/demos/nw_regression.h"
#include "qkv/pictures/html_page.h"

namespace {

qkv::cli::Command reg(
    "nw", "Nadaraya–Watson regression: average pooling vs non-parametric vs parametric attention pooling",
    [](CLI::App& app) -> qkv::cli::Runner {
      auto o = std::make_shared<qkv::demos::NwOptions>();
      auto colormap = std::make_shared<std::string>("viridis");
      auto html = std::make_shared<std::string>();
      app.add_option("--train", o->n_train, "Training points x ~ U(0, x-max)")->check(qkv::cli::int_in(2, 100000))->capture_default_str();
      app.add_option("--test", o->n_test, "Evenly spaced test points")->check(qkv::cli::int_in(1, 100000))->capture_default_str();
      app.add_option("--x-max", o->x_max, "Upper end of the input range")->check(qkv::cli::positive_real())->capture_default_str();
      app.add_option("--noise", o->noise, "Standard deviation of the noise on y")
          ->check(qkv::cli::non_negative_real())
          ->capture_default_str();
      app.add_option("--seed", o->seed, "Seed of the data and of the initial w")->capture_default_str();
      app.add_option("--epochs", o->epochs, "SGD epochs for the parametric width w")
          ->check(qkv::cli::int_in(0, 1000000))
          ->capture_default_str();
      app.add_option("--lr", o->lr, "SGD learning rate")->check(qkv::cli::non_negative_real())->capture_default_str();
      app.add_option("--w-init", o->w_init, "Initial width w (negative: drawn from U[0, 1) with the seed, as d2l)")
          ->check(qkv::cli::finite_real())
          ->capture_default_str();
      app.add_option("--out", o->out_dir, "Write nw_fit.png and nw_weights.png to this directory")->check(qkv::cli::non_empty());
      app.add_option("--colormap", *colormap, "Heatmap colormap: viridis, magma or gray")->capture_default_str();
      app.add_option("--width", o->plot_width, "Width of the fit plot in pixels")
          ->check(qkv::cli::int_in(qkv::demos::kNwPlotMin, qkv::demos::kNwPlotMax))
          ->capture_default_str();
      app.add_option("--height", o->plot_height, "Height of the fit plot in pixels")
          ->check(qkv::cli::int_in(qkv::demos::kNwPlotMin, qkv::demos::kNwPlotMax))
          ->capture_default_str();
      app.add_option("--html", *html, "Write an interactive page (self-contained HTML) to this file")
          ->check(qkv::cli::non_empty());
      return [o, colormap, html] {
        o->colormap = qkv::pictures::parse_colormap(*colormap);
        if (!html->empty()) qkv::pictures::check_output_file(*html, "qkv nw: --html");
        auto result = qkv::demos::run_nw(*o, std::cout);
        if (html->empty()) return 0;
        qkv::pictures::write_text_file(*html, qkv::demos::nw_page_html(result, *o), "qkv nw: --html");
        std::cout << "wrote " << *html << "\n";
        return 0;
      };
    });

}  // namespace
