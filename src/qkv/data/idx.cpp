#include "qkv/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

namespace qkv::data {
namespace {

// The most data bytes an IDX file may declare: Fashion-MNIST's training images are 47 MB.
constexpr int64_t kMaxDataBytes = int64_t{1} << 28;
// Deflate expands by at most 1032:1, so a gzip stream of n bytes holds at most this many.
constexpr int64_t kMaxDeflateRatio = 1032;

[[noreturn]] void file_fail(const std::string& path, const std::string& what) {
  throw FileError("IDX file '" + io::printable_path(path) + "': " + what);
}

struct GzFile {
  gzFile f = nullptr;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

[[noreturn]] void gz_fail(const std::string& path, gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  file_fail(path, std::string("corrupt gzip stream (") + (msg && *msg ? msg : "unknown zlib error") + ")");
}

// Up to n decompressed bytes; fewer only at the end of the stream.
size_t gz_read(const std::string& path, gzFile f, uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const unsigned ask = static_cast<unsigned>(std::min<size_t>(n - done, size_t{1} << 30));
    int got = gzread(f, out + done, ask);
    if (got < 0) gz_fail(path, f);
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  int code = 0;
  gzerror(f, &code);
  if (code != Z_OK && code != Z_STREAM_END) gz_fail(path, f);
  return done;
}

// Reads the header first, checks the declared sizes against the limit and against what the
// file can hold, then reads exactly the declared data (streamed, never past it).
std::vector<uint8_t> read_idx(const std::string& path, int want_dims, std::vector<int64_t>& dims) {
  io::InputFile file = io::open_input_file(path, "IDX file");
  const int64_t file_size = file.size();
  GzFile gz;
  gz.f = gzdopen(file.fd(), "rb");
  if (!gz.f) file_fail(path, "cannot be opened by zlib");
  file.release();
  uint8_t magic[4] = {};
  size_t got = gz_read(path, gz.f, magic, 4);
  if (got < 4) file_fail(path, "truncated: " + std::to_string(got) + " bytes, no IDX header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != want_dims) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "wrong magic %02x %02x %02x %02x; expected 00 00 08 %02x", magic[0], magic[1],
                  magic[2], magic[3], want_dims);
    file_fail(path, std::string(buf) + (want_dims == 3 ? " (unsigned-byte images)" : " (unsigned-byte labels)"));
  }
  std::vector<uint8_t> sizes(4 * static_cast<size_t>(want_dims));
  if (gz_read(path, gz.f, sizes.data(), sizes.size()) < sizes.size()) file_fail(path, "truncated inside the header");
  dims.clear();
  int64_t total = 1;
  std::string declared;
  for (int i = 0; i < want_dims; ++i) {
    const uint8_t* b = &sizes[4 * static_cast<size_t>(i)];
    const int64_t s = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    dims.push_back(s);
    declared += (i ? " x " : "") + std::to_string(s);
  }
  for (int64_t s : dims) {
    if (s != 0 && total > kMaxDataBytes / s)
      file_fail(path, "the header declares " + declared + " data bytes, more than the limit of " +
                          std::to_string(kMaxDataBytes));
    total *= s;
  }
  const int64_t header = 4 + 4 * want_dims;
  const bool plain = gzdirect(gz.f) != 0;
  const int64_t most = plain ? file_size - header : std::min(file_size, kMaxDataBytes) * kMaxDeflateRatio;
  if (total > most)
    file_fail(path, "truncated: header promises " + std::to_string(total) + " data bytes (" + declared + "), " +
                        (plain ? "file has " + std::to_string(most)
                               : "a gzip stream of " + std::to_string(file_size) + " bytes holds at most " +
                                     std::to_string(most)));
  std::vector<uint8_t> data(static_cast<size_t>(total));
  got = gz_read(path, gz.f, data.data(), data.size());
  if (got < data.size())
    file_fail(path, "truncated: header promises " + std::to_string(total) + " data bytes, file has " +
                        std::to_string(got));
  uint8_t extra[4096];
  if (size_t more = gz_read(path, gz.f, extra, sizeof extra); more > 0)
    file_fail(path, "has " + std::string(more == sizeof extra ? "at least " : "") + std::to_string(more) +
                        " unexpected trailing bytes after the data");
  return data;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  std::vector<int64_t> dims;
  IdxImages img;
  img.pixels = read_idx(path, 3, dims);
  img.count = dims[0];
  img.rows = dims[1];
  img.cols = dims[2];
  if (img.rows <= 0 || img.cols <= 0) file_fail(path, "images have an empty size");
  return img;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::vector<int64_t> dims;
  return read_idx(path, 1, dims);
}

ImageDataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  IdxImages img = read_idx_images(images_path);
  if (img.count == 0) file_fail(images_path, "holds no images");
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
