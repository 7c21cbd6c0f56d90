// `qkv info`: the version, SIMD target chosen at run time, bf16 support and thread count.
#include <iostream>

#include "command.h"
#include "qkv/kernels/cpu_info.h"

namespace {

qkv::cli::Command reg("info", "Show the SIMD target, bf16 support and threads qkv uses on this CPU",
                      [](CLI::App&) -> qkv::cli::Runner {
                        return [] {
                          auto info = qkv::kernels::cpu_info();
                          std::cout << "qkv " << QKV_VERSION << "\n"
                                    << "simd target: " << info.simd_target << "\n"
                                    << "avx512 bf16: " << (info.avx512_bf16 ? "yes" : "no") << "\n"
                                    << "threads: " << info.threads << "\n";
                          return 0;
                        };
                      });

}  // namespace
