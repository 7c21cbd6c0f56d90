// A saved seq2seq model (model.safetensors of `qkv seq2seq --out`) on arbitrary bytes:
// everything load_seq2seq checks before it builds the model.
#include "fuzz_input.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/seq2seq.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    // 16: a small vocabulary; the seed corpus uses it (the dates model's is checked in tests).
    qkv::models::checked_seq2seq_config(qkv::io::read_safetensors(path), 16).validate();
  });
  return 0;
}
