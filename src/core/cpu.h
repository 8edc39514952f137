/* What the CPU can run, read once per call from the compiler's runtime
 * (no state of ours). RECUR_KERNELS=generic|avx2|avx512 caps the level,
 * so every kernel path can be tested and compared on one machine. */
#ifndef RECUR_CORE_CPU_H
#define RECUR_CORE_CPU_H

enum { CPU_GENERIC = 0, CPU_AVX2 = 1, CPU_AVX512 = 2 };

/* Highest level this CPU supports (AVX2 needs FMA too). */
int cpu_level_supported(void);
/* The supported level capped by RECUR_KERNELS, if set. */
int cpu_level(void);
const char *cpu_level_name(int level);

#endif
