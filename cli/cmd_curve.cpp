// `qkv curve RUN`: the curve of a training run (accuracy and loss per epoch) as a PNG, from
// RUN/metrics.jsonl (or a metrics.jsonl given directly).
#include <filesystem>
#include <iostream>
#include <memory>

#include "command.h"
#include "qkv/pictures/training_curve.h"
#include "validators.h"

namespace {

struct CurveOptions {
  std::string run, output, title;
};

int run(const CurveOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool dir = fs::is_directory(o.run, ec);
  const std::string metrics = dir ? (fs::path(o.run) / "metrics.jsonl").string() : o.run;
  const std::string out = !o.output.empty()
                              ? o.output
                              : ((dir ? fs::path(o.run) : fs::path(o.run).parent_path()) / "curve.png").string();
  qkv::pictures::write_training_curve(metrics, out, o.title.empty() ? "training curve: " + o.run : o.title);
  std::cout << "curve: " << out << "\n";
  return 0;
}

qkv::cli::Command reg("curve", "Plot a training run's accuracy and loss per epoch (from its metrics.jsonl) as a PNG",
                      [](CLI::App& app) -> qkv::cli::Runner {
                        auto o = std::make_shared<CurveOptions>();
                        app.add_option("run", o->run, "Run directory (with metrics.jsonl) or a metrics.jsonl file")
                            ->required()
                            ->check(qkv::cli::non_empty());
                        app.add_option("-o,--output", o->output, "PNG to write (default: <run>/curve.png)")
                            ->check(qkv::cli::non_empty());
                        app.add_option("--title", o->title, "Figure title");
                        return [o] { return run(*o); };
                      });

}  // namespace
