/* FMA throughput loop, 256-bit: compiled with -mavx2 -mfma (Makefile's
 * %_avx2.o rule) and called only when the CPU has AVX2 and FMA. */
#if defined(__x86_64__) && defined(__FMA__)
#include <immintrin.h>

/* 12 independent chains of 8-lane FMAs (16 ymm registers: 12 chains and
 * two constants); returns the FLOPs done. */
double peak_fma_avx2(long iters, float *sink)
{
    const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
    __m256 a0 = _mm256_set1_ps(0.5f), a1 = _mm256_set1_ps(0.6f), a2 = _mm256_set1_ps(0.7f),
           a3 = _mm256_set1_ps(0.8f), a4 = _mm256_set1_ps(0.9f), a5 = _mm256_set1_ps(1.1f),
           a6 = _mm256_set1_ps(1.2f), a7 = _mm256_set1_ps(1.3f), a8 = _mm256_set1_ps(1.4f),
           a9 = _mm256_set1_ps(1.5f), a10 = _mm256_set1_ps(1.6f), a11 = _mm256_set1_ps(1.7f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c); a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c); a9 = _mm256_fmadd_ps(a9, m, c);
        a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    for (int i = 0; i < 8; i++) *sink += lanes[i];
    return (double)iters * 12 * 8 * 2;
}
#else
typedef int peak_avx2_unused;
#endif
