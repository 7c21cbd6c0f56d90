#include "qkv/demos/embeddings_file.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

namespace qkv::demos {
namespace {

constexpr const char* kWhere = "qkv explain";
constexpr int64_t kMaxBytes = int64_t{16} << 20;
constexpr size_t kMaxWidth = 4096;
constexpr double kMaxMagnitude = 1e6;

}  // namespace

Embeddings parse_embeddings(const std::string& text, const std::string& path) {
  const std::string file = io::printable_path(path);
  std::istringstream in(text);
  Embeddings e;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream ls(line);
    std::string token;
    if (!(ls >> token)) continue;
    std::vector<float> row;
    std::string field;
    while (ls >> field) {
      char* end = nullptr;
      double v = std::strtod(field.c_str(), &end);
      if (end == field.c_str() || *end != '\0' || !std::isfinite(v))
        throw FileError(str(kWhere, ": '", file, "' line ", lineno, ": '", field.substr(0, 40),
                            "' is not a finite number (expected: token v1 v2 ... vd)"));
      if (std::abs(v) > kMaxMagnitude)
        throw FileError(str(kWhere, ": '", file, "' line ", lineno, ": value ", field.substr(0, 40),
                            " is larger in magnitude than the limit ", kMaxMagnitude));
      if (row.size() == kMaxWidth)
        throw FileError(str(kWhere, ": '", file, "' line ", lineno, ": token '", token.substr(0, 40), "' has more than ",
                            kMaxWidth, " values"));
      row.push_back(static_cast<float>(v));
    }
    if (row.empty())
      throw FileError(str(kWhere, ": '", file, "' line ", lineno, ": token '", token.substr(0, 40), "' has no values"));
    if (!e.rows.empty() && row.size() != e.rows.front().size())
      throw FileError(str(kWhere, ": '", file, "' line ", lineno, ": token '", token.substr(0, 40), "' has ",
                          row.size(), " values; expected ", e.rows.front().size(), " like the first line"));
    e.tokens.push_back(token);
    e.rows.push_back(std::move(row));
  }
  if (e.rows.empty()) throw FileError(str(kWhere, ": '", file, "' holds no embeddings"));
  return e;
}

Embeddings read_embeddings(const std::string& path) {
  std::vector<uint8_t> bytes = io::read_input_file(path, std::string(kWhere) + ": embeddings file", kMaxBytes);
  return parse_embeddings(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace qkv::demos
