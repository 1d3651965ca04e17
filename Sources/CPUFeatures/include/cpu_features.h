// What the CPU can do, asked at run time (the GEMM picks its register tile from this).
#ifndef CLIP_CPU_FEATURES_H
#define CLIP_CPU_FEATURES_H

/// 1 when the CPU executes AVX-512F (32 zmm registers: an 8×32 tile of SIMD16 accumulators fits).
int clip_cpu_has_avx512f(void);

/// Asks the cache to fetch the line holding `p` for writing (x86 `prefetchw`/`prefetcht0`): the GEMM's
/// micro-kernel asks for its C tile before the k loop, so the line arrives while the FMAs run.
static inline void clip_prefetch_for_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Asks glibc to keep freed memory for reuse instead of returning it to the kernel between layers
/// (memory.c says why). Returns 1 when the settings were applied, 0 when not (not glibc, or the user
/// set MALLOC_* / GLIBC_TUNABLES in the environment).
int clip_keep_freed_memory(void);

#endif
