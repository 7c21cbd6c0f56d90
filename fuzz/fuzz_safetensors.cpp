// read_safetensors on arbitrary bytes; what it accepts must read back through the typed getters.
#include "fuzz_input.h"
#include "qkv/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    qkv::io::SafeTensors f = qkv::io::read_safetensors(path);
    for (const auto& [name, t] : f.tensors) {
      if (t.dtype == "F32") f.get_f32(name);
      if (t.dtype == "F64") f.get_f64(name);
      if (t.dtype == "I64") f.get_i64(name);
    }
  });
  return 0;
}
