#include "qkv/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

namespace qkv::data {

void fail_idx_file(const std::string& path, const std::string& what) {
  throw FileError("IDX file '" + io::printable_path(path) + "': " + what);
}

namespace {

// The most data bytes an IDX file may declare: Fashion-MNIST's training images are 47 MB.
constexpr int64_t kMaxDataBytes = int64_t{1} << 28;
// Deflate expands by at most 1032:1, so a gzip stream of n bytes holds at most this many.
constexpr int64_t kMaxDeflateRatio = 1032;

struct GzFile {
  gzFile f = nullptr;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

[[noreturn]] void gz_fail(const std::string& path, gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  fail_idx_file(path, std::string("corrupt gzip stream (") + (msg && *msg ? msg : "unknown zlib error") + ")");
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
  if (!gz.f) fail_idx_file(path, "cannot be opened by zlib");
  file.release();
  uint8_t magic[4] = {};
  size_t got = gz_read(path, gz.f, magic, 4);
  if (got < 4) fail_idx_file(path, "truncated: " + std::to_string(got) + " bytes, no IDX header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != want_dims) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "wrong magic %02x %02x %02x %02x; expected 00 00 08 %02x", magic[0], magic[1],
                  magic[2], magic[3], want_dims);
    fail_idx_file(path, std::string(buf) + (want_dims == 3 ? " (unsigned-byte images)" : " (unsigned-byte labels)"));
  }
  std::vector<uint8_t> sizes(4 * static_cast<size_t>(want_dims));
  if (gz_read(path, gz.f, sizes.data(), sizes.size()) < sizes.size()) fail_idx_file(path, "truncated inside the header");
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
      fail_idx_file(path, "the header declares " + declared + " data bytes, more than the limit of " +
                          std::to_string(kMaxDataBytes));
    total *= s;
  }
  const int64_t header = 4 + 4 * want_dims;
  const bool plain = gzdirect(gz.f) != 0;
  const int64_t most = plain ? file_size - header : std::min(file_size, kMaxDataBytes) * kMaxDeflateRatio;
  if (total > most)
    fail_idx_file(path, "truncated: header promises " + std::to_string(total) + " data bytes (" + declared + "), " +
                        (plain ? "file has " + std::to_string(most)
                               : "a gzip stream of " + std::to_string(file_size) + " bytes holds at most " +
                                     std::to_string(most)));
  std::vector<uint8_t> data(static_cast<size_t>(total));
  got = gz_read(path, gz.f, data.data(), data.size());
  if (got < data.size())
    fail_idx_file(path, "truncated: header promises " + std::to_string(total) + " data bytes, file has " +
                        std::to_string(got));
  uint8_t extra[4096];
  if (size_t more = gz_read(path, gz.f, extra, sizeof extra); more > 0)
    fail_idx_file(path, "has " + std::string(more == sizeof extra ? "at least " : "") + std::to_string(more) +
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
  if (img.rows <= 0 || img.cols <= 0) fail_idx_file(path, "images have an empty size");
  return img;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::vector<int64_t> dims;
  return read_idx(path, 1, dims);
}

}  // namespace qkv::data
