#include "qkv/data/idx.h"

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "qkv/core/error.h"

namespace qkv::data {
namespace {

[[noreturn]] void file_fail(const std::string& path, const std::string& what) {
  throw FileError("IDX file '" + path + "': " + what);
}

struct GzFile {
  gzFile f = nullptr;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

// Reads the whole (decompressed) file, then parses it.
std::vector<uint8_t> read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) file_fail(path, "not found (or not a regular file)");
  GzFile gz;
  gz.f = gzopen(path.c_str(), "rb");
  if (!gz.f) file_fail(path, "cannot be opened");
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    int n = gzread(gz.f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(gz.f, &code);
      file_fail(path, std::string("corrupt gzip stream (") + (msg ? msg : "unknown zlib error") + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  int code = 0;
  const char* msg = gzerror(gz.f, &code);
  if (code != Z_OK && code != Z_STREAM_END)
    file_fail(path, std::string("corrupt gzip stream (") + (msg ? msg : "unknown zlib error") + ")");
  return out;
}

struct Parsed {
  std::vector<int64_t> dims;
  size_t offset = 0;
};

Parsed parse_header(const std::string& path, const std::vector<uint8_t>& bytes, int want_dims) {
  if (bytes.size() < 4) file_fail(path, "truncated: " + std::to_string(bytes.size()) + " bytes, no IDX header");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != want_dims) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "wrong magic %02x %02x %02x %02x; expected 00 00 08 %02x", bytes[0], bytes[1],
                  bytes[2], bytes[3], want_dims);
    file_fail(path, std::string(buf) + (want_dims == 3 ? " (unsigned-byte images)" : " (unsigned-byte labels)"));
  }
  Parsed p;
  p.offset = 4 + 4 * static_cast<size_t>(want_dims);
  if (bytes.size() < p.offset) file_fail(path, "truncated inside the header");
  int64_t total = 1;
  for (int i = 0; i < want_dims; ++i) {
    const uint8_t* b = &bytes[4 + 4 * i];
    int64_t s = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    p.dims.push_back(s);
    total *= s;
    if (total > (int64_t{1} << 34)) file_fail(path, "implausible sizes in the header");
  }
  int64_t have = static_cast<int64_t>(bytes.size() - p.offset);
  if (have < total)
    file_fail(path, "truncated: header promises " + std::to_string(total) + " data bytes, file has " +
                        std::to_string(have));
  if (have > total)
    file_fail(path, "has " + std::to_string(have - total) + " unexpected trailing bytes after the data");
  return p;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  auto bytes = read_all(path);
  Parsed p = parse_header(path, bytes, 3);
  IdxImages img;
  img.count = p.dims[0];
  img.rows = p.dims[1];
  img.cols = p.dims[2];
  if (img.rows <= 0 || img.cols <= 0) file_fail(path, "images have an empty size");
  img.pixels.assign(bytes.begin() + static_cast<std::ptrdiff_t>(p.offset), bytes.end());
  return img;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  auto bytes = read_all(path);
  Parsed p = parse_header(path, bytes, 1);
  return std::vector<uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(p.offset), bytes.end());
}

ImageDataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  IdxImages img = read_idx_images(images_path);
  std::vector<uint8_t> labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(labels.size()) != img.count)
    throw FileError("IDX files '" + images_path + "' and '" + labels_path + "': " + std::to_string(img.count) +
                    " images but " + std::to_string(labels.size()) + " labels");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 10)
      file_fail(labels_path, "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                                 " is not a Fashion-MNIST class (0..9)");
  ImageDataset ds;
  ds.count = img.count;
  ds.rows = img.rows;
  ds.cols = img.cols;
  ds.pixels = std::move(img.pixels);
  ds.labels = std::move(labels);
  if (limit > 0 && limit < ds.count) {
    ds.count = limit;
    ds.pixels.resize(static_cast<size_t>(limit * ds.rows * ds.cols));
    ds.labels.resize(static_cast<size_t>(limit));
  }
  return ds;
}

std::string default_fashion_mnist_dir() {
  if (const char* env = std::getenv("QKV_FASHION_MNIST"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

const std::array<const char*, 10>& fashion_mnist_classes() {
  static const std::array<const char*, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace qkv::data
