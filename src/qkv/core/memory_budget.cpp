#include "qkv/core/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "qkv/core/error.h"
#include "qkv/core/parse.h"

namespace qkv {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kDefaultBudgetGiB = 4.0;

double cgroup_limit_bytes() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text)) return 0;
  auto v = parse_int64(text);  // "max" (no limit) gives nullopt
  return v && *v > 0 ? static_cast<double>(*v) : 0;
}

}  // namespace

double machine_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  double ram = pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0;
  const double cg = cgroup_limit_bytes();
  if (cg > 0 && (ram <= 0 || cg < ram)) ram = cg;
  return ram;
}

double memory_budget_bytes() {
  if (const char* env = std::getenv("QKV_MAX_MEMORY_GB"); env && *env) {
    auto v = parse_double(env);
    QKV_CHECK(v && std::isfinite(*v) && *v > 0, "environment variable QKV_MAX_MEMORY_GB is '", env,
              "'; expected a positive number of GiB");
    return *v * kGiB;
  }
  const double ram = machine_memory_bytes();
  return ram > 0 ? std::min(kDefaultBudgetGiB * kGiB, 0.8 * ram) : kDefaultBudgetGiB * kGiB;
}

std::string format_bytes(double bytes) {
  char buf[64];
  if (bytes >= kGiB)
    std::snprintf(buf, sizeof buf, "%.1f GB", bytes / kGiB);
  else if (bytes >= 1024.0 * 1024.0)
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / (1024.0 * 1024.0));
  else
    std::snprintf(buf, sizeof buf, "%.0f bytes", bytes);
  return buf;
}

void check_memory(const std::string& where, double bytes, const std::string& sized_by) {
  const double budget = memory_budget_bytes();
  QKV_CHECK(std::isfinite(bytes) && bytes <= budget, where, ": needs about ", format_bytes(bytes), " (sized by ",
            sized_by, "); the limit is ", format_bytes(budget),
            " (QKV_MAX_MEMORY_GB, default: the smaller of 4 GB and 80% of this machine's memory)");
}

}  // namespace qkv
