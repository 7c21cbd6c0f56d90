// The IDX reader on the committed Fashion-MNIST fixture and on hostile files; safetensors
// round trips and corrupt files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "qkv/data/fashion_mnist.h"
#include "qkv/io/safetensors.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
const std::string kTiny = std::string(QKV_FIXTURES_DIR) + "/fashion-mnist-tiny";

fs::path scratch_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("qkv_vit_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_bytes(uint8_t ndims, std::vector<uint32_t> dims, size_t payload) {
  std::vector<uint8_t> b = {0, 0, 8, ndims};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

template <typename F>
void expect_file_error(F&& f, const std::string& must_contain) {
  try {
    f();
    FAIL() << "no exception; expected one mentioning '" << must_contain << "'";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(must_contain), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(VitIdx, ReadsTheFixture) {
  auto train = data::load_fashion_mnist(kTiny, true);
  auto test = data::load_fashion_mnist(kTiny, false);
  EXPECT_EQ(train.count, 500);
  EXPECT_EQ(test.count, 250);
  EXPECT_EQ(train.rows, 28);
  EXPECT_EQ(train.cols, 28);
  EXPECT_EQ(train.pixels.size(), 500u * 784u);
  EXPECT_EQ(train.labels[0], 9);  // the first Fashion-MNIST training image is an ankle boot
  std::vector<int> seen(10, 0);
  for (uint8_t y : train.labels) seen[y]++;
  for (int c = 0; c < 10; ++c) EXPECT_GT(seen[c], 20) << "class " << c;
  auto limited = data::load_fashion_mnist(kTiny, true, 100);
  EXPECT_EQ(limited.count, 100);
  EXPECT_EQ(limited.labels.size(), 100u);
  EXPECT_STREQ(data::fashion_mnist_classes()[9], "Ankle boot");
}

TEST(VitIdx, HostileFilesGiveFileErrorsNamingTheFile) {
  fs::path dir = scratch_dir("idx");
  const std::string img = (dir / "train-images-idx3-ubyte.gz").string();
  const std::string lab = (dir / "train-labels-idx1-ubyte.gz").string();
  expect_file_error([&] { data::read_idx_images(img); }, "not found");

  write_gz(img, idx_bytes(3, {4, 2, 2}, 16));
  write_gz(lab, idx_bytes(1, {3}, 3));
  EXPECT_EQ(data::read_idx_images(img).count, 4);
  expect_file_error([&] { data::load_fashion_mnist(dir.string(), true); }, "4 images but 3 labels");

  write_gz(img, idx_bytes(3, {4, 2, 2}, 15));
  expect_file_error([&] { data::read_idx_images(img); }, "truncated");
  write_gz(img, idx_bytes(3, {4, 2, 2}, 17));
  expect_file_error([&] { data::read_idx_images(img); }, "trailing");
  expect_file_error([&] { data::read_idx_labels(img); }, "wrong magic");
  write_gz(img, {0, 0, 8});
  expect_file_error([&] { data::read_idx_images(img); }, img);

  // A gzip stream cut in the middle.
  write_gz(img, idx_bytes(3, {100, 28, 28}, 78400));
  auto size = fs::file_size(img);
  fs::resize_file(img, size / 2);
  expect_file_error([&] { data::read_idx_images(img); }, img);

  // Garbage in the middle of the compressed data.
  write_gz(img, idx_bytes(3, {100, 28, 28}, 78400));
  {
    std::fstream f(img, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    for (int i = 0; i < 64; ++i) f.put(static_cast<char>(0xA5 ^ i));
  }
  expect_file_error([&] { data::read_idx_images(img); }, img);

  write_gz(lab, idx_bytes(1, {4}, 0));
  {
    auto b = idx_bytes(1, {4}, 0);
    for (uint8_t v : {1, 2, 3, 42}) b.push_back(v);
    write_gz(lab, b);
  }
  write_gz(img, idx_bytes(3, {4, 2, 2}, 16));
  expect_file_error([&] { data::load_fashion_mnist(dir.string(), true); }, "label 42");
  fs::remove_all(dir);
}

TEST(VitSafetensors, RoundTripKeepsEveryDtypeAndMetadata) {
  fs::path dir = scratch_dir("st");
  io::SafeTensors f;
  f.put("a.weight", TensorF::from({2, 3}, {1, 2, 3, 4, 5, -6.5f}));
  f.put("b", TensorD::from({1}, {3.25}));
  f.put("step", TensorI::from({2}, {7, -1}));
  f.put("empty", TensorF(Shape{0, 4}));
  f.metadata["config"] = "{\"width\": 64}";
  const std::string path = (dir / "m.safetensors").string();
  io::write_safetensors(path, f);
  auto g = io::read_safetensors(path);
  EXPECT_EQ(g.get_f32("a.weight").to_vector(), f.get_f32("a.weight").to_vector());
  EXPECT_EQ(g.get_f32("a.weight").shape(), (Shape{2, 3}));
  EXPECT_EQ(g.get_f64("b")[0], 3.25);
  EXPECT_EQ(g.get_i64("step")[1], -1);
  EXPECT_EQ(g.get_f32("empty").shape(), (Shape{0, 4}));
  EXPECT_EQ(g.meta("config"), "{\"width\": 64}");
  EXPECT_THROW(g.get_f64("a.weight"), Error);
  EXPECT_THROW(g.get_f32("missing"), Error);
  EXPECT_EQ(g.f32_with_prefix("a.").size(), 1u);
  // The header length is little-endian and the header is 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  uint8_t len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{len[i]} << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(fs::file_size(path), 8 + n + 24 + 8 + 16 + 0);
  // No temporary files are left behind.
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(VitSafetensors, CorruptFilesGiveFileErrors) {
  fs::path dir = scratch_dir("stbad");
  const std::string path = (dir / "m.safetensors").string();
  expect_file_error([&] { io::read_safetensors(path); }, "not found");
  io::SafeTensors f;
  f.put("w", TensorF::from({4}, {1, 2, 3, 4}));
  io::write_safetensors(path, f);
  auto good = fs::file_size(path);
  fs::resize_file(path, good - 3);
  expect_file_error([&] { io::read_safetensors(path); }, "outside the data section");
  fs::resize_file(path, 5);
  expect_file_error([&] { io::read_safetensors(path); }, "truncated");

  auto write_raw = [&](const std::string& header, size_t data_bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
    out << header;
    for (size_t i = 0; i < data_bytes; ++i) out.put(0);
  };
  write_raw("{not json", 0);
  expect_file_error([&] { io::read_safetensors(path); }, "not valid JSON");
  write_raw(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16);
  expect_file_error([&] { io::read_safetensors(path); }, "tensor 'w'");
  write_raw(R"({"w":{"dtype":"BF17","shape":[4],"data_offsets":[0,16]}})", 16);
  expect_file_error([&] { io::read_safetensors(path); }, "unsupported dtype");
  write_raw(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  expect_file_error([&] { io::read_safetensors(path); }, "overlapping");
  write_raw(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  expect_file_error([&] { io::read_safetensors(path); }, "negative");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(0xff));
  }
  expect_file_error([&] { io::read_safetensors(path); }, "exceeds the file size");
  fs::remove_all(dir);
}

namespace {
long peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}
}  // namespace

TEST(VitIdx, DeclaredSizesAreCheckedBeforeAnyDataIsRead) {
  fs::path dir = scratch_dir("idxsize");
  const std::string img = (dir / "images.gz").string();
  // 4 × 2^31 × 2^31 wraps an int64 product: refused by the limit, naming the declared sizes.
  write_gz(img, idx_bytes(3, {4, 0x80000000u, 0x80000000u}, 0));
  expect_file_error([&] { data::read_idx_images(img); }, "declares 4 x 2147483648 x 2147483648 data bytes");
  expect_file_error([&] { data::read_idx_images(img); }, "limit of 268435456");
  // Within the limit but more than a gzip stream of this size can hold.
  write_gz(img, idx_bytes(3, {60000, 28, 28}, 10));
  expect_file_error([&] { data::read_idx_images(img); }, "holds at most");
  // A plain (uncompressed) file: compared with the file size before reading.
  const std::string plain = (dir / "labels").string();
  {
    auto b = idx_bytes(1, {1000}, 10);
    std::ofstream(plain, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<long>(b.size()));
  }
  expect_file_error([&] { data::read_idx_labels(plain); }, "promises 1000 data bytes (1000), file has 10");
  fs::remove_all(dir);
}

TEST(VitIdx, TrailingDataIsNotInflated) {
  fs::path dir = scratch_dir("idxbomb");
  const std::string lab = (dir / "labels.gz").string();
  // 4 labels, then 400 MB of zeros (about 400 kB compressed): the reader stops after the data.
  gzFile f = gzopen(lab.c_str(), "wb1");
  ASSERT_NE(f, nullptr);
  auto head = idx_bytes(1, {4}, 4);
  gzwrite(f, head.data(), static_cast<unsigned>(head.size()));
  std::vector<uint8_t> zeros(1 << 22, 0);
  for (int i = 0; i < 100; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(f);
  zeros = {};
  const long before = peak_rss_mb();
  expect_file_error([&] { data::read_idx_labels(lab); }, "unexpected trailing bytes");
  EXPECT_LT(peak_rss_mb() - before, 64) << "MB of peak memory to refuse a file with trailing data";
  fs::remove_all(dir);
}

TEST(VitIdx, EmptyDatasetIsRefused) {
  fs::path dir = scratch_dir("idxempty");
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_bytes(3, {0, 28, 28}, 0));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(1, {0}, 0));
  expect_file_error([&] { data::load_fashion_mnist(dir.string(), false); }, "holds no images");
  fs::remove_all(dir);
}

TEST(VitSafetensors, ErrorsOfTheTypedGettersNameTheFile) {
  fs::path dir = scratch_dir("stget");
  const std::string path = (dir / "m.safetensors").string();
  io::SafeTensors f;
  f.put("w", TensorD::from({1}, {1.0}));
  io::write_safetensors(path, f);
  auto g = io::read_safetensors(path);
  EXPECT_EQ(g.path, path);
  try {
    g.get_f32("w");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w' in '" + path + "' has dtype F64; expected F32"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(VitSafetensors, HeaderLongerThanTheLimitIsRefusedUnread) {
  fs::path dir = scratch_dir("sthead");
  const std::string path = (dir / "m.safetensors").string();
  const uint64_t n = (uint64_t{16} << 20) + 8;
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  }
  fs::resize_file(path, 8 + n);  // sparse: the length is plausible for the file size
  expect_file_error([&] { io::read_safetensors(path); }, "header length 16777224 exceeds the limit of 16777216 bytes");
  fs::remove_all(dir);
}
