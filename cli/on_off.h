// --NAME and --no-NAME flag pairs for the CLI's boolean options.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace qkv::cli {

// --NAME and --no-NAME setting `value` (they exclude each other). Two plain flags rather than
// "--NAME,!--no-NAME", whose help reads "--NAME,--no-NAME{false}"; `value` holds the default,
// which the --NAME help states.
inline void add_on_off(CLI::App& app, const std::string& name, bool& value, const std::string& on_help,
                       const std::string& off_help) {
  CLI::Option* on = app.add_flag_callback("--" + name, [&value] { value = true; },
                                          on_help + " (default: " + (value ? "on" : "off") + ")");
  app.add_flag_callback("--no-" + name, [&value] { value = false; }, off_help)->excludes(on);
}

}  // namespace qkv::cli
