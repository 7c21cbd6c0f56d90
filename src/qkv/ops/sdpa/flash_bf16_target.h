// Per-target switch of the native bfloat16 kernels (flash_bf16.cpp, flash_bf16_backward.cpp).
//
// Included once per SIMD target (after hwy/highway.h, inside Highway's foreach_target passes),
// so it has no include guard and redefines its macros each time:
//   QKV_BF16_NATIVE  1 in the AVX-512 targets, where the native kernels are compiled; else 0.
//   QKV_BF16_TARGET  the function attribute that adds avx512bf16 to the target's instruction
//                    sets (defined only where QKV_BF16_NATIVE is 1). Those functions run only
//                    where cpu_info() reports AVX512-BF16.
#undef QKV_BF16_NATIVE
#undef QKV_BF16_TARGET
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define QKV_BF16_NATIVE 1
#define QKV_BF16_TARGET __attribute__((target("avx512bf16")))
#else
#define QKV_BF16_NATIVE 0
#endif
