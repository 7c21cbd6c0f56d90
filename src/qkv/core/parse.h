// Strict parsing of numbers written as text (environment variables, file metadata, options):
// the whole text must be the number — no leading or trailing spaces, no "1xyz", no overflow.
// Unlike atoi/stoll these never read a prefix, never wrap and never throw.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qkv {

// Decimal integer with an optional leading '-': "12", "-5". Empty, "+3", "1xyz", "1e3" and
// values outside int64 give nullopt.
inline std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Decimal or scientific real: "0.5", "-1e-3". Returns non-finite values ("inf", "nan") as they
// are: callers that need a finite number check std::isfinite.
inline std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace qkv
