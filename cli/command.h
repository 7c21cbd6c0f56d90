// Subcommand registry of the qkv CLI. Each cli/cmd_*.cpp file registers itself:
//
//   static qkv::cli::Command reg("train", "Train a ViT on Fashion-MNIST", [](CLI::App& app) {
//     auto opts = std::make_shared<TrainOptions>();
//     app.add_option("--epochs", opts->epochs, "...");
//     return [opts] { return run_train(*opts); };   // runs after parsing; returns the exit code
//   });
//
// The CLI only translates arguments and calls the library.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace qkv::cli {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App& app)>;

struct CommandSpec {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<CommandSpec>& command_registry();

struct Command {
  Command(std::string name, std::string description, Setup setup) {
    command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace qkv::cli
