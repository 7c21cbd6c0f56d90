// The embeddings file of `qkv explain --embeddings` on arbitrary bytes.
#include "fuzz_input.h"
#include "qkv/demos/embeddings_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    qkv::demos::Embeddings e = qkv::demos::read_embeddings(path);
    if (e.tokens.size() != e.rows.size() || e.rows.empty()) std::abort();
    for (const auto& row : e.rows)
      if (row.size() != e.rows.front().size()) std::abort();
  });
  return 0;
}
