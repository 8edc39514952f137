/*
 * The int8 product through AVX-VNNI (vpdpbusd on 256-bit vectors), for
 * CPUs and RECUR_KERNELS=avx2 runs that have it; see quant_avx512.c for the
 * tiling. A 16-row panel is two vectors of 8 outputs here.
 */
#include <immintrin.h>
#include <string.h>

#include "nn/quant.h"

#define AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define INLINE static inline __attribute__((always_inline))

/* quant_row_u8 with vectors (same rounding, so the same bytes). */
INLINE AVXVNNI float row_u8(const float *a, int K, int Kp, uint8_t *out)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmax = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(a + k), absmask));
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    float amax = 0.0f;
    for (int j = 0; j < 8; j++) amax = lanes[j] > amax ? lanes[j] : amax;
    for (; k < K; k++) {
        float v = a[k] < 0 ? -a[k] : a[k];
        amax = v > amax ? v : amax;
    }
    float inv = amax > 0.0f && amax <= 3.0e38f ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127), off = _mm256_set1_epi32(128);
    for (k = 0; k + 8 <= K; k += 8) {
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + k), vinv));
        q = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(q, lo), hi), off);
        int32_t v[8];
        _mm256_storeu_si256((__m256i *)v, q);
        for (int j = 0; j < 8; j++) out[k + j] = (uint8_t)v[j];
    }
    for (; k < K; k++) {
        float x = a[k] * inv;
        __m128i q = _mm_cvtps_epi32(_mm_set_ss(x));
        int v = _mm_cvtsi128_si32(q);
        out[k] = (uint8_t)((v > 127 ? 127 : v < -127 ? -127 : v) + 128);
    }
    for (k = K; k < Kp; k++) out[k] = 128;
    return inv > 0.0f ? amax / 127.0f : 0.0f;
}

INLINE AVXVNNI void tile(const int MR, const int NP, const uint8_t *ua, int Kp, const qmat *W, int p0,
                         const float *sa, float *C, int ldc, int accumulate)
{
    const size_t ps = (size_t)QUANT_NR * Kp;
    const int8_t *P = (const int8_t *)W->data + (size_t)p0 * ps;
    __m256i acc[4][4]; /* [row][panel half: 2 per panel] */
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 2 * NP; j++) acc[i][j] = _mm256_setzero_si256();
    for (int k = 0; k < Kp; k += 4) {
        __m256i w[4];
#pragma GCC unroll 4
        for (int j = 0; j < 2 * NP; j++)
            w[j] = _mm256_load_si256((const __m256i *)(P + (j / 2) * ps + (size_t)k * QUANT_NR + (j % 2) * 32));
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            int32_t a4;
            memcpy(&a4, ua + (size_t)i * Kp + k, sizeof a4);
            __m256i a = _mm256_set1_epi32(a4);
#pragma GCC unroll 4
            for (int j = 0; j < 2 * NP; j++) acc[i][j] = _mm256_dpbusd_avx_epi32(acc[i][j], a, w[j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < 2 * NP; j++) {
        int n = p0 * QUANT_NR + j * 8, cols = W->N - n;
        if (cols <= 0) continue;
        __m256i comp = _mm256_loadu_si256((const __m256i *)(W->comp + n));
        __m256 sc = _mm256_loadu_ps(W->scale + n);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            float *c = C + (size_t)i * ldc + n;
            __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], comp));
            v = _mm256_mul_ps(v, _mm256_mul_ps(sc, _mm256_set1_ps(sa[i])));
            if (cols >= 8) {
                if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(c), v);
                _mm256_storeu_ps(c, v);
            } else {
                float t[8];
                _mm256_storeu_ps(t, v);
                for (int r = 0; r < cols; r++) c[r] = accumulate ? c[r] + t[r] : t[r];
            }
        }
    }
}

#define ROWS(MR)                                                                      \
    do {                                                                              \
        int p = 0;                                                                    \
        for (; p + 2 <= W->panels; p += 2) tile(MR, 2, ua, Kp, W, p, sa, c, ldc, accumulate); \
        for (; p < W->panels; p++) tile(MR, 1, ua, Kp, W, p, sa, c, ldc, accumulate);          \
    } while (0)

AVXVNNI void quant_int8_gemm_avxvnni(int M, const float *A, int lda, const qmat *W, float *C, int ldc,
                                     int accumulate)
{
    _Alignas(64) uint8_t ua[4 * QUANT_MAX_K];
    float sa[4];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i += 4) {
        int mr = M - i < 4 ? M - i : 4;
        for (int r = 0; r < mr; r++) sa[r] = row_u8(A + (size_t)(i + r) * lda, W->K, Kp, ua + (size_t)r * Kp);
        float *c = C + (size_t)i * ldc;
        switch (mr) {
        case 4: ROWS(4); break;
        case 3: ROWS(3); break;
        case 2: ROWS(2); break;
        default: ROWS(1); break;
        }
    }
}
