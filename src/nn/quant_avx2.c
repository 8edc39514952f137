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

/* ------------------------------------------------------------------------ */
/* AVX2 without VNNI: vpmaddwd on sign-extended bytes                        */
/* ------------------------------------------------------------------------ */

/*
 * For AVX2 CPUs without AVX-VNNI (Zen 1-3, Haswell to Coffee Lake). The
 * weights stay one byte each in the panels (the bytes are what a small
 * batch pays for) and are widened to 16 bits as they are loaded; the input
 * row is quantised to the same q as quant_row_u8 but kept signed, as 16-bit
 * values, so that vpmaddwd's products and pair sums are exact: the int32
 * sums equal VNNI's (sum (q + 128) w - comp = sum q w), and so do the
 * outputs, bit for bit. (vpmaddubsw would take the bytes as they are, but
 * its 16-bit pair sums saturate: 255 * 127 * 2 > 32767.)
 *
 * One 16-byte chunk of a panel's k-group is 4 outputs x 4 inputs; widened
 * it is 16 int16, and vpmaddwd against the row's 4 inputs (broadcast)
 * gives 4 outputs x 2 partial sums, added pairwise at the end.
 */

/* quant_row_u8's q (same rounding), signed, as int16; 0 past K. */
INLINE float row_s16(const float *a, int K, int Kp, int16_t *out)
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
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    for (k = 0; k + 8 <= K; k += 8) {
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + k), vinv));
        q = _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
        /* int32 -> int16 within each 128-bit half, then the halves together. */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(q, q), 0x08);
        _mm_storeu_si128((__m128i *)(out + k), _mm256_castsi256_si128(p));
    }
    for (; k < K; k++) {
        __m128i q = _mm_cvtps_epi32(_mm_set_ss(a[k] * inv));
        int v = _mm_cvtsi128_si32(q);
        out[k] = (int16_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    for (k = K; k < Kp; k++) out[k] = 0;
    return inv > 0.0f ? amax / 127.0f : 0.0f;
}

/* MR (1 or 2) rows against one panel of 16 outputs. */
INLINE void madd_tile(const int MR, const int16_t *xa, int Kp, const qmat *W, int p, const float *sa, float *C,
                      int ldc, int accumulate)
{
    const int8_t *P = (const int8_t *)W->data + (size_t)p * QUANT_NR * Kp;
    __m256i acc[2][4];
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_si256();
    for (int k = 0; k < Kp; k += 4) {
        __m256i w[4];
        const int8_t *g = P + (size_t)k * QUANT_NR;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) w[j] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(g + 16 * j)));
#pragma GCC unroll 2
        for (int i = 0; i < MR; i++) {
            int64_t a4;
            memcpy(&a4, xa + (size_t)i * Kp + k, sizeof a4);
            __m256i a = _mm256_set1_epi64x(a4);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(a, w[j]));
        }
    }
    const int n0 = p * QUANT_NR;
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++) {
        float *c = C + (size_t)i * ldc;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            /* Pairs of partial sums of outputs 8h..8h+7 -> the 8 sums in order. */
            __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][2 * h], acc[i][2 * h + 1]), 0xD8);
            int n = n0 + 8 * h, cols = W->N - n;
            if (cols <= 0) continue;
            __m256 v = _mm256_cvtepi32_ps(s);
            v = _mm256_mul_ps(v, _mm256_mul_ps(_mm256_loadu_ps(W->scale + n), _mm256_set1_ps(sa[i])));
            if (cols >= 8) {
                if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(c + n), v);
                _mm256_storeu_ps(c + n, v);
            } else {
                float t[8];
                _mm256_storeu_ps(t, v);
                for (int r = 0; r < cols; r++) c[n + r] = accumulate ? c[n + r] + t[r] : t[r];
            }
        }
    }
}

void quant_int8_gemm_avx2(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate)
{
    _Alignas(64) int16_t xa[4 * QUANT_MAX_K];
    float sa[4];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i += 4) {
        int mr = M - i < 4 ? M - i : 4;
        for (int r = 0; r < mr; r++) sa[r] = row_s16(A + (size_t)(i + r) * lda, W->K, Kp, xa + (size_t)r * Kp);
        float *c = C + (size_t)i * ldc;
        for (int p = 0; p < W->panels; p++) {
            int r = 0;
            for (; r + 2 <= mr; r += 2)
                madd_tile(2, xa + (size_t)r * Kp, Kp, W, p, sa + r, c + (size_t)r * ldc, ldc, accumulate);
            if (r < mr) madd_tile(1, xa + (size_t)r * Kp, Kp, W, p, sa + r, c + (size_t)r * ldc, ldc, accumulate);
        }
    }
}
