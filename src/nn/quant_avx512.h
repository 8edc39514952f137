/*
 * What the AVX-512 quantized kernels share (quant_avx512.c, the products;
 * quant_cell_avx512.c, the steps fused with their cells): the target
 * attributes and the conversions of a row of activations.
 */
#ifndef RECUR_NN_QUANT_AVX512_H
#define RECUR_NN_QUANT_AVX512_H
#include <immintrin.h>
#include <string.h>

#include "nn/quant.h"

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define BW __attribute__((target("avx512f,avx512bw,avx512vl")))
#define INLINE static inline __attribute__((always_inline))

/* quant_row_u8 with vectors: the same rounding (the current mode, nearest
 * even by default, as lrintf), so the same bytes. */
INLINE VNNI float row_u8(const float *a, int K, int Kp, uint8_t *out)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 vmax = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_loadu_ps(a + k), absmask));
    float amax = _mm512_reduce_max_ps(vmax);
    for (; k < K; k++) {
        float v = a[k] < 0 ? -a[k] : a[k];
        amax = v > amax ? v : amax;
    }
    float inv = amax > 0.0f && amax <= 3.0e38f ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(128);
    for (k = 0; k < K; k += 16) {
        __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, a + k), vinv));
        q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), off);
        _mm_mask_storeu_epi8(out + k, mk, _mm512_cvtepi32_epi8(q));
    }
    for (k = K; k < Kp; k++) out[k] = 128;
    return inv > 0.0f ? amax / 127.0f : 0.0f;
}

/* quant_row_u8's q (same rounding), signed, as int16; 0 past K. */
INLINE BW float row_s16(const float *a, int K, int Kp, int16_t *out)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 vmax = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_loadu_ps(a + k), absmask));
    float amax = _mm512_reduce_max_ps(vmax);
    for (; k < K; k++) {
        float v = a[k] < 0 ? -a[k] : a[k];
        amax = v > amax ? v : amax;
    }
    float inv = amax > 0.0f && amax <= 3.0e38f ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (k = 0; k < K; k += 16) {
        __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, a + k), vinv));
        q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
        _mm256_mask_storeu_epi16(out + k, mk, _mm512_cvtepi32_epi16(q));
    }
    for (k = K; k < Kp; k++) out[k] = 0;
    return inv > 0.0f ? amax / 127.0f : 0.0f;
}

INLINE BF16 void row_bf16(const float *a, int K, int Kp, uint16_t *out)
{
    for (int k = 0; k < K; k += 16) {
        __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m256bh b = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, a + k));
        _mm256_mask_storeu_epi16(out + k, mk, (__m256i)b);
    }
    for (int k = K; k < Kp; k++) out[k] = 0;
}

#endif
