#include "qkv/train/metrics_file.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "qkv/io/input_file.h"

namespace qkv::train {
namespace {

constexpr int64_t kMaxMetricsBytes = int64_t{64} << 20;

[[noreturn]] void bad_line(const std::string& path, int64_t line, const std::string& problem) {
  throw FileError(str("metrics file '", io::printable_path(path), "' line ", line, ": ", problem));
}

double number(const nlohmann::json& j, const char* key, const std::string& path, int64_t line, bool probability) {
  if (!j.contains(key)) bad_line(path, line, str("no \"", key, "\"; expected a number"));
  const nlohmann::json& v = j.at(key);
  if (!v.is_number()) bad_line(path, line, str("\"", key, "\" is ", v.dump(), "; expected a number"));
  const double x = v.get<double>();
  if (!std::isfinite(x) || (probability && (x < 0 || x > 1)))
    bad_line(path, line, str("\"", key, "\" is ", v.dump(), "; expected a finite number", probability ? " in [0, 1]" : ""));
  return x;
}

}  // namespace

std::vector<EpochMetrics> read_metrics(const std::string& path) {
  const std::vector<uint8_t> bytes = io::read_input_file(path, "metrics file", kMaxMetricsBytes);
  const std::string text(bytes.begin(), bytes.end());
  std::vector<EpochMetrics> out;
  int64_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      bad_line(path, line_no, str("not a JSON object: ", line.substr(0, 80), line.size() > 80 ? "…" : ""));
    if (!j.contains("epoch") || !j.at("epoch").is_number_integer())
      bad_line(path, line_no, str("\"epoch\" is ", j.contains("epoch") ? j.at("epoch").dump() : "missing",
                                  "; expected an integer >= 1"));
    EpochMetrics m;
    m.epoch = j.at("epoch").get<int64_t>();
    const int64_t expected = out.empty() ? -1 : out.back().epoch + 1;
    if (m.epoch < 1 || (expected > 0 && m.epoch != expected))
      bad_line(path, line_no, str("\"epoch\" is ", m.epoch, "; expected ", expected > 0 ? std::to_string(expected) : "an integer >= 1",
                                  expected > 0 ? " (one more than the line before)" : ""));
    m.train_loss = number(j, "train_loss", path, line_no, false);
    m.train_accuracy = number(j, "train_accuracy", path, line_no, true);
    if (j.contains("test_loss") || j.contains("test_accuracy")) {
      m.test_loss = number(j, "test_loss", path, line_no, false);
      m.test_accuracy = number(j, "test_accuracy", path, line_no, true);
    }
    m.ema = j.contains("test_weights") && j.at("test_weights") == "ema";
    if (j.contains("seconds") && j.at("seconds").is_number()) m.seconds = j.at("seconds").get<double>();
    out.push_back(m);
  }
  if (out.empty()) throw FileError(str("metrics file '", io::printable_path(path), "' has no epochs; expected one JSON line per epoch"));
  return out;
}

}  // namespace qkv::train
