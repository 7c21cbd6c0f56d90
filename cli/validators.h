// Validators for the CLI's options, the one place where option values are checked as text:
// integers in a readable range, finite reals, non-empty strings. CLI11 prefixes the message
// with the option's name, so an error names the option, the expected and the actual value:
//   --depth: expected an integer in [0, 1024], got 1e6
//   --lr: expected a finite number > 0, got inf
// (CLI11's own PositiveNumber prints a 309-digit range and lets "inf" through.)
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

namespace qkv::cli {

// Decimal integer in [lo, hi] ("1e3" and "0x10" are refused, as CLI11's own conversion does).
CLI::Validator int_in(int64_t lo, int64_t hi);
// Finite real in [lo, hi].
CLI::Validator real_in(double lo, double hi);
// Finite real > 0.
CLI::Validator positive_real();
// Finite real >= 0.
CLI::Validator non_negative_real();
// Any finite real.
CLI::Validator finite_real();
// A non-empty string (paths: an empty one would silently mean "the default" or "none").
CLI::Validator non_empty();

}  // namespace qkv::cli
