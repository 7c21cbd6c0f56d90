// Crash-safe small-file writes for run directories (metrics.jsonl and friends).
//
// write_file_atomically: temp file "<path>.tmp.<pid>", fsync, rename over <path>, fsync of the
// directory — a kill at any moment leaves either the old or the new content, never a mix.
// append_line_durably: one write(2) of "<line>\n" with O_APPEND, then fsync — a kill leaves the
// line whole or absent (a power cut may still tear it; readers drop a torn last line).
// Both throw qkv::FileError naming the path.
#pragma once

#include <string>

namespace qkv::io {

void write_file_atomically(const std::string& path, const std::string& content);
void append_line_durably(const std::string& path, const std::string& line);

// The temporary name write_file_atomically and write_safetensors use: "<path>.tmp.<pid>".
std::string temp_path_for(const std::string& path, long pid);

}  // namespace qkv::io
