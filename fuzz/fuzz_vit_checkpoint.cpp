// A ViT checkpoint on arbitrary bytes: everything load_vit checks before it builds the model
// (the safetensors structure, the "vit_config" metadata, every tensor the config implies).
#include "fuzz_input.h"
#include "qkv/io/safetensors.h"
#include "qkv/models/vit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    qkv::models::VitConfig c = qkv::models::checked_vit_config(qkv::io::read_safetensors(path));
    c.validate();
  });
  return 0;
}
