#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>

int cpu_level_supported(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CPU_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CPU_AVX2;
#endif
    return CPU_GENERIC;
}

int cpu_level(void)
{
    int level = cpu_level_supported();
    const char *cap = getenv("RECUR_KERNELS");
    if (cap) {
        int want = strcmp(cap, "generic") == 0 ? CPU_GENERIC : strcmp(cap, "avx2") == 0 ? CPU_AVX2 : level;
        if (want < level) level = want;
    }
    return level;
}

const char *cpu_level_name(int level)
{
    return level == CPU_AVX512 ? "avx512" : level == CPU_AVX2 ? "avx2" : "generic";
}
