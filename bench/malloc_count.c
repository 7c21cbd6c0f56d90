// LD_PRELOAD library that counts malloc calls and bytes and prints them at exit (stderr):
//   mallocs=N bytes=M
// Used by bench/count_allocations.sh to measure allocations per ViT training step.
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);

static atomic_long n_malloc, n_bytes;

void* malloc(size_t size) {
  atomic_fetch_add(&n_malloc, 1);
  atomic_fetch_add(&n_bytes, (long)size);
  return __libc_malloc(size);
}

__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "mallocs=%ld bytes=%ld\n", (long)n_malloc, (long)n_bytes);
}
