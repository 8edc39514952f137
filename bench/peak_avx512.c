/* FMA throughput loop, 512-bit: compiled with -mavx512f (Makefile's
 * %_avx512.o rule) and called only when the CPU has AVX-512F. */
#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

/* 16 independent chains of 16-lane FMAs (enough to cover a 4-cycle latency
 * on two FMA pipes twice over); returns the FLOPs done. */
double peak_fma_avx512(long iters, float *sink)
{
    const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
    __m512 a0 = _mm512_set1_ps(0.5f), a1 = _mm512_set1_ps(0.6f), a2 = _mm512_set1_ps(0.7f),
           a3 = _mm512_set1_ps(0.8f), a4 = _mm512_set1_ps(0.9f), a5 = _mm512_set1_ps(1.1f),
           a6 = _mm512_set1_ps(1.2f), a7 = _mm512_set1_ps(1.3f), a8 = _mm512_set1_ps(1.4f),
           a9 = _mm512_set1_ps(1.5f), a10 = _mm512_set1_ps(1.6f), a11 = _mm512_set1_ps(1.7f),
           a12 = _mm512_set1_ps(1.8f), a13 = _mm512_set1_ps(1.9f), a14 = _mm512_set1_ps(2.0f),
           a15 = _mm512_set1_ps(2.1f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c); a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c); a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
        a12 = _mm512_fmadd_ps(a12, m, c); a13 = _mm512_fmadd_ps(a13, m, c);
        a14 = _mm512_fmadd_ps(a14, m, c); a15 = _mm512_fmadd_ps(a15, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                                       _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15))));
    *sink += _mm512_reduce_add_ps(s);
    return (double)iters * 16 * 16 * 2;
}
#else
typedef int peak_avx512_unused;
#endif
