#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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

/* cap is name, or name followed by "-" and a modifier (-novnni). */
static int level_is(const char *cap, const char *name)
{
    size_t n = strlen(name);
    return strncmp(cap, name, n) == 0 && (cap[n] == '\0' || cap[n] == '-');
}

int cpu_level(void)
{
    int level = cpu_level_supported();
    const char *cap = getenv("RECUR_KERNELS");
    if (cap) {
        int want = level_is(cap, "generic") ? CPU_GENERIC : level_is(cap, "avx2") ? CPU_AVX2 : level;
        if (want < level) level = want;
    }
    return level;
}

const char *cpu_level_name(int level)
{
    return level == CPU_AVX512 ? "avx512" : level == CPU_AVX2 ? "avx2" : "generic";
}

int cpu_features(void)
{
    int f = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* CPUID leaf 7: subleaf 0 ECX bit 11 is AVX512_VNNI; subleaf 1 EAX bit 4
     * AVX-VNNI, bit 5 AVX512_BF16. Read directly: not every compiler's
     * __builtin_cpu_supports knows these names. The OS's saving of the
     * vector state is what cpu_level_supported checks for AVX2 and AVX-512. */
    unsigned a, b, c, d;
    int level = cpu_level_supported();
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (c >> 11 & 1) && level >= CPU_AVX512) f |= CPU_VNNI512;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        if ((a >> 4 & 1) && level >= CPU_AVX2) f |= CPU_AVXVNNI;
        if ((a >> 5 & 1) && level >= CPU_AVX512) f |= CPU_BF16_512;
    }
    if (level >= CPU_AVX512 && __builtin_cpu_supports("avx512bw")) f |= CPU_AVX512BW;
    const char *cap = getenv("RECUR_KERNELS");
    if (cap && strstr(cap, "-novnni")) f &= ~(CPU_VNNI512 | CPU_AVXVNNI);
#endif
    return f;
}
