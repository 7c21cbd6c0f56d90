// The embeddings file of `qkv explain --embeddings FILE`: one token a line, then its values.
//
//   # comment            (everything after '#' is ignored; blank lines too)
//   早 0.1 -0.3 1.2 0.0
//   上 ...
// Every line has the same number of values (1..4096), each a finite number of magnitude at most
// 1e6 (larger ones overflow the float32 products of the demo). The file is at most 16 MiB and
// must be a regular file. Every problem throws qkv::FileError naming the file and the line.
#pragma once

#include <string>
#include <vector>

namespace qkv::demos {

struct Embeddings {
  std::vector<std::string> tokens;
  std::vector<std::vector<float>> rows;  // one per token, all of the same width
};

Embeddings read_embeddings(const std::string& path);
// The same, from the file's bytes (path only names it in messages).
Embeddings parse_embeddings(const std::string& text, const std::string& path);

}  // namespace qkv::demos
