// A fresh, empty scratch folder for one test: <tmp>/qkv_test_<name>_<pid>, created (or, with
// create = false, only emptied away so the code under test must create it).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace qkv::test {

inline std::filesystem::path temp_dir(const std::string& name, bool create = true) {
  namespace fs = std::filesystem;
  fs::path d = fs::temp_directory_path() / ("qkv_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  if (create) fs::create_directories(d);
  return d;
}

}  // namespace qkv::test
