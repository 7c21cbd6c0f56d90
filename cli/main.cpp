// qkv — the attention mechanism, exact, differentiable and fast. Entry point of the CLI.
#include <algorithm>
#include <iostream>
#include <map>

#include "command.h"
#include "qkv/core/error.h"
#include "qkv/core/parallel.h"

namespace qkv::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
}  // namespace qkv::cli

int main(int argc, char** argv) {
  using namespace qkv::cli;
  CLI::App app{"qkv — Query/Key/Value attention, exact, differentiable and fast on a CPU"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: QKV_NUM_THREADS or the number of cores)")
      ->check(CLI::PositiveNumber);

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, Runner> runners;
  for (auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    runners[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (threads > 0) qkv::set_num_threads(threads);
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const qkv::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
