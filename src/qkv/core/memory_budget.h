// The memory one request may ask for, checked before allocating: sizes that come from users
// (options, arguments, array shapes) are estimated first and refused with a message naming what
// sizes them, instead of ending in std::bad_alloc after gigabytes (or in the OOM killer).
//
// Budget: QKV_MAX_MEMORY_GB when set (a positive number of GiB), else the smaller of 4 GiB and
// 80% of the machine's memory (physical RAM, or the cgroup limit when lower).
#pragma once

#include <cstdint>
#include <string>

namespace qkv {

double memory_budget_bytes();
// Physical RAM, or the cgroup v2 memory limit when that is lower.
double machine_memory_bytes();

// "1.5 GB", "320.0 MB", "12 bytes" (powers of 1024).
std::string format_bytes(double bytes);

// Throws qkv::Error when `bytes` exceeds the budget:
//   "<where>: needs about 38.1 GB (sized by <sized_by>); the limit is 4.0 GB (...)".
void check_memory(const std::string& where, double bytes, const std::string& sized_by);

}  // namespace qkv
