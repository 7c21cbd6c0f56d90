// qkv::Error — the one exception type thrown at every public boundary.
// Messages name the argument, the expected value and the actual value, e.g.
//   "scaled_dot_product_attention: argument 'k' has shape (2, 4, 7, 16); expected last dim 32 (the head dim of 'q')"
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace qkv {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown for problems with files (missing, truncated, corrupt); still a qkv::Error.
class FileError : public Error {
 public:
  explicit FileError(const std::string& message) : Error(message) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename First, typename... Rest>
void append(std::ostringstream& os, const First& first, const Rest&... rest) {
  os << first;
  append(os, rest...);
}
}  // namespace detail

// Concatenates every argument with operator<<.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// "(2, 3, 4)"
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str(args...));
}

// Always-on check for API boundaries: QKV_CHECK(cond, "message parts", ...).
#define QKV_CHECK(cond, ...)                   \
  do {                                         \
    if (!(cond)) ::qkv::fail(__VA_ARGS__);     \
  } while (0)

}  // namespace qkv
