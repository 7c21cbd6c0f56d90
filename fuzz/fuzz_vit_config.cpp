// VitConfig::from_json on arbitrary text (the "vit_config" metadata of checkpoints).
#include "fuzz_input.h"
#include "qkv/models/vit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  qkv::fuzz::refusing_is_fine([&] { qkv::models::VitConfig::from_json(text).parameter_shapes(); });
  return 0;
}
