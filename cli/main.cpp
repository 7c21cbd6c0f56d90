// qkv — the attention mechanism, exact, differentiable and fast. Entry point of the CLI.
#include <algorithm>
#include <iostream>
#include <map>
#include <new>
#include <stdexcept>
#include <string>

#include "command.h"
#include "qkv/core/error.h"
#include "qkv/core/parallel.h"
#include "qkv/train/distributed.h"
#include "validators.h"

namespace qkv::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

namespace {

// "qkv bench attention" and the options given to it, "--n 100000 --d 64", for messages about
// exceptions that do not know which option sized them.
std::string command_line_of(CLI::App* sub) {
  std::string name, given;
  for (CLI::App* a = sub; a && a->get_parent(); a = a->get_parent()) name = " " + a->get_name() + name;
  for (CLI::App* a = sub; a; a = a->get_parent())
    for (const CLI::Option* opt : a->get_options())
      if (opt->count() > 0 && !opt->get_lnames().empty()) {
        given += " --" + opt->get_lnames().front();
        for (const auto& r : opt->results()) given += " " + r;
      }
  return "'qkv" + name + "'" + (given.empty() ? " (no options given)" : " (options:" + given + ")");
}

}  // namespace
}  // namespace qkv::cli

int main(int argc, char** argv) {
  using namespace qkv::cli;
  CLI::App app{"qkv — Query/Key/Value attention, exact, differentiable and fast on a CPU"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: QKV_NUM_THREADS or the number of cores)")
      ->check(int_in(1, qkv::kMaxThreads));

  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](auto& a, auto& b) { return a.name < b.name; });
  // A name with a space ("bench attention") is a subcommand of a shared parent ("bench").
  std::map<CLI::App*, Runner> runners;
  std::map<std::string, CLI::App*> parents;
  for (auto& spec : registry) {
    CLI::App* parent = &app;
    std::string name = spec.name;
    if (auto space = name.find(' '); space != std::string::npos) {
      std::string group = name.substr(0, space);
      name = name.substr(space + 1);
      auto& p = parents[group];
      if (!p) {
        p = app.add_subcommand(group, group == "bench"         ? "Benchmarks: figures and ratios measured in one run"
                                      : group == "transformer" ? "The sequence-to-sequence Transformer: train, translate, attention"
                                                               : group);
        p->require_subcommand(1);
      }
      parent = p;
    }
    CLI::App* sub = parent->add_subcommand(name, spec.description);
    runners[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  CLI::App* ran = nullptr;
  // An error on one rank of an MPI job ends every rank (train/distributed.h), after its message.
  try {
    if (threads > 0) qkv::set_num_threads(threads);
    for (auto& [sub, run] : runners)
      if (sub->parsed()) {
        ran = sub;
        return run();
      }
  } catch (const qkv::Error& e) {
    return qkv::train::end_job_after_error(std::string("error: ") + e.what(), 2);
  } catch (const std::bad_alloc&) {
    return qkv::train::end_job_after_error(
        "error: out of memory in " + (ran ? command_line_of(ran) : std::string("'qkv'")) +
            "; the sizes these options ask for do not fit in this machine's memory: use smaller ones",
        2);
  } catch (const std::invalid_argument& e) {
    return qkv::train::end_job_after_error("error: a value is not a valid number in " +
                                               (ran ? command_line_of(ran) : std::string("'qkv'")) + " (" + e.what() + ")",
                                           2);
  } catch (const std::out_of_range& e) {
    return qkv::train::end_job_after_error("error: a value is out of range in " +
                                               (ran ? command_line_of(ran) : std::string("'qkv'")) + " (" + e.what() + ")",
                                           2);
  } catch (const std::exception& e) {
    return qkv::train::end_job_after_error(std::string("error: ") + e.what(), 1);
  }
  return 0;
}
