#include "validators.h"

#include <cmath>
#include <limits>

#include "qkv/core/error.h"
#include "qkv/core/parse.h"

namespace qkv::cli {
namespace {

// The text as a finite real, or an error message.
std::string as_real(const std::string& text, double& value, const std::string& expected) {
  auto v = parse_double(text);
  if (!v || !std::isfinite(*v)) return str("expected ", expected, ", got '", text, "'");
  value = *v;
  return "";
}

CLI::Validator real_check(const std::string& expected, bool (*ok)(double, double, double), double lo, double hi) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (auto e = as_real(text, v, expected); !e.empty()) return e;
        return ok(v, lo, hi) ? "" : str("expected ", expected, ", got ", text);
      },
      expected);
}

}  // namespace

CLI::Validator int_in(int64_t lo, int64_t hi) {
  const std::string expected = str("an integer in [", lo, ", ", hi, "]");
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        auto v = parse_int64(text);
        if (!v) return str("expected ", expected, ", got '", text, "'");
        if (*v < lo || *v > hi) return str("expected ", expected, ", got ", text);
        return "";
      },
      str("in [", lo, ", ", hi, "]"));
}

CLI::Validator real_in(double lo, double hi) {
  return real_check(str("a finite number in [", lo, ", ", hi, "]"),
                    [](double v, double a, double b) { return v >= a && v <= b; }, lo, hi);
}

CLI::Validator positive_real() {
  return real_check("a finite number > 0", [](double v, double, double) { return v > 0; }, 0, 0);
}

CLI::Validator non_negative_real() {
  return real_check("a finite number >= 0", [](double v, double, double) { return v >= 0; }, 0, 0);
}

CLI::Validator finite_real() {
  return real_check("a finite number", [](double, double, double) { return true; }, 0, 0);
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "expected a non-empty value, got ''" : ""; },
      "non-empty");
}

}  // namespace qkv::cli
