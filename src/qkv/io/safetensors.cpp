#include "qkv/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "qkv/io/atomic_file.h"
#include "qkv/io/input_file.h"

namespace qkv::io {
namespace {

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE float and double expected");

size_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "U8") return 1;
  return 0;
}

template <typename T>
SafeTensor make(const char* dtype, const Tensor<T>& t) {
  SafeTensor s;
  s.dtype = dtype;
  s.shape = t.shape();
  Tensor<T> c = t.contiguous();
  s.bytes.resize(static_cast<size_t>(c.numel()) * sizeof(T));
  if (c.numel()) std::memcpy(s.bytes.data(), c.data(), s.bytes.size());
  return s;
}

template <typename T>
Tensor<T> take(const SafeTensors& f, const std::string& name, const char* dtype) {
  auto it = f.tensors.find(name);
  const std::string file = f.path.empty() ? std::string() : " in '" + printable_path(f.path) + "'";
  QKV_CHECK(it != f.tensors.end(), "safetensors: no tensor named '", name, "'", file);
  QKV_CHECK(it->second.dtype == dtype, "safetensors: tensor '", name, "'", file, " has dtype ", it->second.dtype,
            "; expected ", dtype);
  Tensor<T> t(it->second.shape);
  if (t.numel()) std::memcpy(t.data(), it->second.bytes.data(), it->second.bytes.size());
  return t;
}

constexpr uint64_t kMaxHeaderBytes = uint64_t{16} << 20;

[[noreturn]] void file_fail(const std::string& path, const std::string& what) {
  throw FileError("safetensors file '" + printable_path(path) + "': " + what);
}

// n bytes at `offset`; false at a short read.
bool read_at(int fd, uint8_t* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pread(fd, data, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace

void SafeTensors::put(const std::string& name, const TensorF& t) { tensors[name] = make("F32", t); }
void SafeTensors::put(const std::string& name, const TensorD& t) { tensors[name] = make("F64", t); }
void SafeTensors::put(const std::string& name, const TensorI& t) { tensors[name] = make("I64", t); }
void SafeTensors::put(const std::string& name, const TensorB& t) { tensors[name] = make("U8", t); }
TensorF SafeTensors::get_f32(const std::string& name) const { return take<float>(*this, name, "F32"); }
TensorD SafeTensors::get_f64(const std::string& name) const { return take<double>(*this, name, "F64"); }
TensorI SafeTensors::get_i64(const std::string& name) const { return take<int64_t>(*this, name, "I64"); }

std::map<std::string, TensorF> SafeTensors::f32_with_prefix(const std::string& prefix) const {
  std::map<std::string, TensorF> out;
  for (auto& [name, t] : tensors)
    if (name.compare(0, prefix.size(), prefix) == 0 && t.dtype == "F32")
      out[name.substr(prefix.size())] = get_f32(name);
  return out;
}

const std::string& SafeTensors::meta(const std::string& key) const {
  auto it = metadata.find(key);
  QKV_CHECK(it != metadata.end(), "safetensors: no metadata key '", key, "'",
            path.empty() ? std::string() : " in '" + printable_path(path) + "'");
  return it->second;
}

void write_safetensors(const std::string& path, const SafeTensors& file) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (auto& [name, t] : file.tensors) {
    QKV_CHECK(name != "__metadata__" && !name.empty(), "write_safetensors: invalid tensor name '", name, "'");
    QKV_CHECK(dtype_size(t.dtype) != 0, "write_safetensors: tensor '", name, "' has unsupported dtype ", t.dtype);
    QKV_CHECK(t.bytes.size() == static_cast<size_t>(numel_of(t.shape)) * dtype_size(t.dtype),
              "write_safetensors: tensor '", name, "' has ", t.bytes.size(), " bytes for shape ", shape_str(t.shape));
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(static_cast<uint8_t>(n >> (8 * i)));
  std::vector<std::string_view> pieces{std::string_view(len, 8), text};
  for (auto& [name, t] : file.tensors)
    pieces.emplace_back(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  write_file_atomically(path, pieces);
}

SafeTensors read_safetensors(const std::string& path) {
  InputFile file = open_input_file(path, "safetensors file");
  const uint64_t file_size = static_cast<uint64_t>(file.size());
  if (file_size < 8) file_fail(path, "truncated: " + std::to_string(file_size) + " bytes, no header length");
  uint8_t len[8];
  if (!read_exact(file.fd(), len, 8, path, "safetensors file")) file_fail(path, "shrank while being read");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (n > file_size - 8)
    file_fail(path, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(file_size));
  if (n > kMaxHeaderBytes)
    file_fail(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                        std::to_string(kMaxHeaderBytes) + " bytes");
  std::string text(static_cast<size_t>(n), '\0');
  if (!read_exact(file.fd(), text.data(), text.size(), path, "safetensors file"))
    file_fail(path, "shrank while being read");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    file_fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) file_fail(path, "header is not a JSON object");
  const uint64_t data_begin = 8 + n;
  const uint64_t data_size = file_size - data_begin;
  SafeTensors out;
  out.path = path;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) file_fail(path, "__metadata__ is not an object");
      for (auto& [k, v] : entry.items()) {
        if (!v.is_string()) file_fail(path, "__metadata__ value for '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      file_fail(path, where + "needs dtype, shape and data_offsets");
    SafeTensor t;
    if (!entry["dtype"].is_string()) file_fail(path, where + "dtype is not a string");
    t.dtype = entry["dtype"].get<std::string>();
    if (dtype_size(t.dtype) == 0) file_fail(path, where + "unsupported dtype " + t.dtype + " (F32, F64, I64, U8)");
    const auto& shape = entry["shape"];
    const auto& offs = entry["data_offsets"];
    if (!shape.is_array()) file_fail(path, where + "shape is not an array");
    if (shape.size() > 16) file_fail(path, where + "shape has " + std::to_string(shape.size()) + " dims; the limit is 16");
    uint64_t count = 1;
    for (auto& s : shape) {
      if (!s.is_number_unsigned()) file_fail(path, where + "shape has a negative or non-integer entry");
      uint64_t v = s.get<uint64_t>();
      if (v > (uint64_t{1} << 40) || (v && count > (uint64_t{1} << 40) / v)) file_fail(path, where + "implausible shape");
      count *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      file_fail(path, where + "data_offsets must be two non-negative integers");
    uint64_t b = offs[0].get<uint64_t>(), e = offs[1].get<uint64_t>();
    if (b > e || e > data_size)
      file_fail(path, where + "data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                          ") outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    if (e - b != count * dtype_size(t.dtype))
      file_fail(path, where + std::to_string(e - b) + " bytes for dtype " + t.dtype + " and shape " +
                          shape_str(t.shape) + " (expected " + std::to_string(count * dtype_size(t.dtype)) + ")");
    ranges.emplace_back(b, e);
    out.tensors[name] = std::move(t);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) file_fail(path, "tensors have overlapping data_offsets");
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    SafeTensor& t = out.tensors[name];
    const uint64_t b = entry["data_offsets"][0].get<uint64_t>(), e = entry["data_offsets"][1].get<uint64_t>();
    t.bytes.resize(static_cast<size_t>(e - b));
    if (!read_at(file.fd(), t.bytes.data(), t.bytes.size(), data_begin + b))
      file_fail(path, "tensor '" + name + "': shrank while being read");
  }
  return out;
}

void check_finite(const SafeTensors& file, const std::string& name, const std::string& who) {
  auto it = file.tensors.find(name);
  QKV_CHECK(it != file.tensors.end(), who, ": '", printable_path(file.path), "' has no tensor '", name, "'");
  if (it->second.dtype != "F32") return;
  const std::vector<uint8_t>& bytes = it->second.bytes;
  for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    float x;
    std::memcpy(&x, bytes.data() + i, 4);
    if (!std::isfinite(x))
      throw FileError(str(who, ": '", printable_path(file.path), "': tensor '", name, "' holds ", std::isnan(x) ? "NaN" : "an infinite value",
                          " at index ", i / 4, " (flat); weights must be finite"));
  }
}

void check_weights(const SafeTensors& file, const NamedShapes& expected, const std::string& who) {
  for (const auto& [name, shape] : expected) {
    auto it = file.tensors.find(name);
    if (it == file.tensors.end())
      throw FileError(str(who, ": '", printable_path(file.path), "' has no tensor '", name, "' (expected shape ", shape_str(shape), ")"));
    if (it->second.dtype != "F32")
      throw FileError(str(who, ": '", printable_path(file.path), "': tensor '", name, "' has dtype ", it->second.dtype,
                          "; expected F32"));
    if (it->second.shape != shape)
      throw FileError(str(who, ": '", printable_path(file.path), "': tensor '", name, "' has shape ", shape_str(it->second.shape),
                          "; expected ", shape_str(shape)));
    check_finite(file, name, who);
  }
}

}  // namespace qkv::io
