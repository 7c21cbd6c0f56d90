// Every reader refuses what is not a regular file (a FIFO would block forever), a directory and
// a path with a NUL byte inside, with a FileError naming the file, through io::open_input_file.
#include <sys/stat.h>

#include "hostile_files.h"
#include "qkv/data/idx.h"
#include "qkv/demos/embeddings_file.h"
#include "qkv/pictures/image.h"
#include "qkv/io/input_file.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/vit.h"

using namespace qkv;

namespace {
// Each reader that takes a path from a user.
void read_with_every_reader(const std::string& path, std::initializer_list<std::string> pieces) {
  test::expect_file_error_with([&] { pictures::read_png(path); }, pieces);
  test::expect_file_error_with([&] { io::read_safetensors(path); }, pieces);
  test::expect_file_error_with([&] { models::load_vit(path); }, pieces);
  test::expect_file_error_with([&] { data::read_idx_images(path); }, pieces);
  test::expect_file_error_with([&] { data::read_idx_labels(path); }, pieces);
  test::expect_file_error_with([&] { demos::read_embeddings(path); }, pieces);
}
}  // namespace

TEST(InputFile, FifoIsRefusedInsteadOfBlocking) {
  auto dir = test::hostile_dir("fifo");
  const std::string fifo = (dir / "image.png").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  read_with_every_reader(fifo, {fifo, "is a FIFO; expected a regular file"});
  std::filesystem::remove_all(dir);
}

TEST(InputFile, DirectoryAndMissingFileAreRefused) {
  auto dir = test::hostile_dir("dir");
  read_with_every_reader(dir.string(), {dir.string(), "is a directory; expected a regular file"});
  read_with_every_reader((dir / "missing").string(), {(dir / "missing").string(), "not found"});
  std::filesystem::remove_all(dir);
}

TEST(InputFile, NulInsideThePathIsRefusedInsteadOfOpeningTheShorterPath) {
  auto dir = test::hostile_dir("nul");
  const std::string good = (dir / "model.safetensors").string();
  io::SafeTensors f;
  f.put("w", TensorF::from({1}, {1.0f}));
  io::write_safetensors(good, f);
  const std::string path = good + std::string(1, '\0') + "other";
  read_with_every_reader(path, {good + "\\0other", "NUL byte at position " + std::to_string(good.size())});
  std::filesystem::remove_all(dir);
}

TEST(InputFile, ReadInputFileHonoursItsLimit) {
  auto dir = test::hostile_dir("limit");
  test::write_bytes(dir / "f", std::string(100, 'x'));
  EXPECT_EQ(io::read_input_file((dir / "f").string(), "test file", 100).size(), 100u);
  test::expect_file_error_with([&] { io::read_input_file((dir / "f").string(), "test file", 99); },
                               {"test file '", "is 100 bytes; the limit is 99 bytes"});
  std::filesystem::remove_all(dir);
}
