// Crash-safe file writes: checkpoints, run files (metrics.jsonl and friends), pages.
//
// write_file_atomically: temp file "<path>.tmp.<pid>", fsync, rename over <path>, fsync of the
// directory — a kill at any moment leaves either the old or the new content, never a mix. The
// content may come in pieces (a header and tensors) that are written one after another.
// append_line_durably: one write(2) of "<line>\n" with O_APPEND, then fsync — a kill leaves the
// line whole or absent (a power cut may still tear it; readers drop a torn last line).
// Both throw qkv::FileError naming the path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qkv::io {

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces);
void write_file_atomically(const std::string& path, const std::string& content);
void append_line_durably(const std::string& path, const std::string& line);

// The temporary name write_file_atomically and write_safetensors use: "<path>.tmp.<pid>".
std::string temp_path_for(const std::string& path, long pid);

}  // namespace qkv::io
