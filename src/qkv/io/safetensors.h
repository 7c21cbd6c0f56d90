// The safetensors format (huggingface/safetensors): the ecosystem's weight file.
//
//   8 bytes   little-endian uint64 N, the header length
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//                    "__metadata__": {"key": "string value", ...}}   (padded with spaces)
//   rest      raw little-endian tensor data; offsets are relative to the end of the header
// Supported dtypes: F32, F64, I64, U8. Files are written atomically (temp file, fsync,
// rename, fsync of the directory), so a crash never leaves a half-written checkpoint.
// Reading validates everything (sizes, offsets in bounds and non-overlapping, dtype × shape
// = byte count, JSON well-formed) and throws qkv::FileError naming the file and the tensor.
// The header (at most 16 MiB) is read first, then each tensor's bytes straight from the file:
// memory never exceeds the file's own size. Non-regular files (FIFOs, directories) are refused.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qkv/core/tensor.h"

namespace qkv::io {

struct SafeTensor {
  std::string dtype;  // "F32", "F64", "I64", "U8"
  Shape shape;
  std::vector<uint8_t> bytes;
};

class SafeTensors {
 public:
  void put(const std::string& name, const TensorF& t);
  void put(const std::string& name, const TensorD& t);
  void put(const std::string& name, const TensorI& t);
  void put(const std::string& name, const TensorB& t);

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // Throw qkv::Error naming the tensor when it is missing or has another dtype.
  TensorF get_f32(const std::string& name) const;
  TensorD get_f64(const std::string& name) const;
  TensorI get_i64(const std::string& name) const;
  // Every F32 tensor whose name starts with prefix, keyed by the rest of its name.
  std::map<std::string, TensorF> f32_with_prefix(const std::string& prefix) const;
  // Metadata value; throws naming the key when missing.
  const std::string& meta(const std::string& key) const;

  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string path;  // the file it was read from (empty when built in memory); named in errors
};

using NamedShapes = std::vector<std::pair<std::string, Shape>>;

// Before a model is built from a file: every expected tensor must be present as F32 with
// exactly that shape and hold only finite values. Throws qkv::FileError naming `who`, the file,
// the tensor, the expected and the actual value.
void check_weights(const SafeTensors& file, const NamedShapes& expected, const std::string& who);
// The first non-finite value of an F32 tensor: FileError naming the file, tensor and index.
void check_finite(const SafeTensors& file, const std::string& name, const std::string& who);

void write_safetensors(const std::string& path, const SafeTensors& file);
SafeTensors read_safetensors(const std::string& path);

}  // namespace qkv::io
