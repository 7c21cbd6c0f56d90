// Helpers for the tests that feed readers hostile files: a scratch directory, raw bytes to a
// file, and an expectation that a call throws qkv::FileError whose message holds every given
// piece (the file, the key or tensor, the expected and the actual value).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "qkv/core/error.h"

namespace qkv::test {

inline std::filesystem::path hostile_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("qkv_hostile_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename F>
void expect_file_error_with(F&& f, std::initializer_list<std::string> pieces) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected a FileError";
  } catch (const FileError& e) {
    for (const auto& piece : pieces)
      EXPECT_NE(std::string(e.what()).find(piece), std::string::npos) << "'" << piece << "' not in: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FileError, got: " << e.what();
  }
}

}  // namespace qkv::test
