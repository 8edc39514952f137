/* What the CPU can run, read once per call from the compiler's runtime
 * (no state of ours). RECUR_KERNELS=generic|avx2|avx512 caps the level
 * (a "-novnni" suffix: see cpu_features),
 * so every kernel path can be tested and compared on one machine. */
#ifndef RECUR_CORE_CPU_H
#define RECUR_CORE_CPU_H

enum { CPU_GENERIC = 0, CPU_AVX2 = 1, CPU_AVX512 = 2 };

/* Highest level this CPU supports (AVX2 needs FMA too). */
int cpu_level_supported(void);
/* The supported level capped by RECUR_KERNELS, if set. */
int cpu_level(void);
const char *cpu_level_name(int level);

/* Instruction-set extensions beyond a level, for the quantized kernels
 * (nn/quant*.c): bits of what this CPU has. They never change what a level
 * means; a kernel table of level L uses an extension only if L can run it
 * (AVX-512 VNNI and BF16 at avx512, AVX-VNNI at avx2 and above), so
 * RECUR_KERNELS=avx2 or generic still caps every path. */
enum { CPU_VNNI512 = 1, CPU_AVXVNNI = 2, CPU_BF16_512 = 4, CPU_AVX512BW = 8 };
/* RECUR_KERNELS=avx512-novnni or avx2-novnni (the level, then "-novnni")
 * also hides both VNNI bits: the int8 kernels of CPUs without VNNI can be
 * run and timed on one that has it. */
int cpu_features(void);

#endif
