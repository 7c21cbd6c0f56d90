// The CMU dictionary reader (Festival's format) on arbitrary bytes, read as a file; what it keeps
// must hold its promises: sorted distinct words of a–z and ', non-empty distinct pronunciations.
#include <algorithm>
#include <cstdlib>

#include "fuzz_input.h"
#include "qkv/data/cmudict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    const qkv::data::CmuDict d = qkv::data::read_cmudict(path);
    int64_t stored = 0;
    for (size_t i = 0; i < d.words.size(); ++i) {
      const auto& w = d.words[i];
      if (w.word.empty() || (i > 0 && !(d.words[i - 1].word < w.word))) std::abort();
      for (char c : w.word)
        if (!((c >= 'a' && c <= 'z') || c == '\'')) std::abort();
      if (w.pronunciations.empty()) std::abort();
      for (const auto& p : w.pronunciations)
        if (p.empty()) std::abort();
      stored += static_cast<int64_t>(w.pronunciations.size());
    }
    if (stored != d.stats.pronunciations()) std::abort();
  });
  return 0;
}
