/*
 * AVX-512 kernels of quantized products (see quant.h): int8 through VNNI's
 * vpdpbusd (64 multiply-adds an instruction), bf16 through vdpbf16ps (32).
 * Only called when cpu_features() reports the extension; the functions
 * carry it as a target attribute so that the rest of the build does not.
 *
 * A tile is MR rows of x (quantised into a buffer on the stack) times NP
 * panels of 16 outputs: MR * NP accumulators stay in registers while the
 * panels stream once through K. A batch of one is a matrix-vector product
 * whose speed is the bytes of W, which is why int8 is 4x fewer than fp32.
 */
#include <immintrin.h>
#include <string.h>

#include "nn/quant_avx512.h"


/* ------------------------------------------------------------------------ */
/* int8                                                                      */
/* ------------------------------------------------------------------------ */

INLINE VNNI void i8_tile(const int MR, const int NP, const uint8_t *ua, int Kp, const qmat *W, int p0,
                         const float *sa, float *C, int ldc, int accumulate)
{
    const size_t ps = (size_t)QUANT_NR * Kp;
    const int8_t *P = (const int8_t *)W->data + (size_t)p0 * ps;
    __m512i acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NP; j++) acc[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < Kp; k += 4) {
        __m512i w[8];
#pragma GCC unroll 8
        for (int j = 0; j < NP; j++) w[j] = _mm512_load_si512((const void *)(P + j * ps + (size_t)k * QUANT_NR));
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            int32_t a4;
            memcpy(&a4, ua + (size_t)i * Kp + k, sizeof a4);
            __m512i a = _mm512_set1_epi32(a4);
#pragma GCC unroll 8
            for (int j = 0; j < NP; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a, w[j]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NP; j++) {
        int n = (p0 + j) * QUANT_NR, cols = W->N - n;
        __mmask16 mk = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
        __m512i comp = _mm512_loadu_si512((const void *)(W->comp + n));
        __m512 sc = _mm512_loadu_ps(W->scale + n);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            float *c = C + (size_t)i * ldc + n;
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], comp));
            v = _mm512_mul_ps(v, _mm512_mul_ps(sc, _mm512_set1_ps(sa[i])));
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), v);
            _mm512_mask_storeu_ps(c, mk, v);
        }
    }
}

/* Rows against one panel, with four partial sums over consecutive
 * k-groups: the panel is read as one sequential stream. With a single row
 * the step is a matrix-vector product bound by how fast the caches deliver
 * W; eight panels read side by side (eight streams) got about 100-120 GB/s
 * from L2 here, one stream at a time about 140-170. */
INLINE VNNI void i8_stream(const int MR, const uint8_t *ua, int Kp, const qmat *W, int p, const float *sa, float *C,
                           int ldc, int accumulate)
{
    const int8_t *P = (const int8_t *)W->data + (size_t)p * QUANT_NR * Kp;
    __m512i acc[2][4];
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) acc[i][u] = _mm512_setzero_si512();
    int k = 0;
    for (; k + 16 <= Kp; k += 16)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            __m512i w = _mm512_load_si512((const void *)(P + (size_t)(k + 4 * u) * QUANT_NR));
#pragma GCC unroll 2
            for (int i = 0; i < MR; i++) {
                int32_t a4;
                memcpy(&a4, ua + (size_t)i * Kp + k + 4 * u, sizeof a4);
                acc[i][u] = _mm512_dpbusd_epi32(acc[i][u], _mm512_set1_epi32(a4), w);
            }
        }
    for (; k < Kp; k += 4) {
        __m512i w = _mm512_load_si512((const void *)(P + (size_t)k * QUANT_NR));
#pragma GCC unroll 2
        for (int i = 0; i < MR; i++) {
            int32_t a4;
            memcpy(&a4, ua + (size_t)i * Kp + k, sizeof a4);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], _mm512_set1_epi32(a4), w);
        }
    }
    int n = p * QUANT_NR, cols = W->N - n;
    __mmask16 mk = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    __m512i comp = _mm512_loadu_si512((const void *)(W->comp + n));
    __m512 sc = _mm512_loadu_ps(W->scale + n);
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++) {
        __m512i s = _mm512_add_epi32(_mm512_add_epi32(acc[i][0], acc[i][1]), _mm512_add_epi32(acc[i][2], acc[i][3]));
        float *c = C + (size_t)i * ldc + n;
        __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(s, comp));
        v = _mm512_mul_ps(v, _mm512_mul_ps(sc, _mm512_set1_ps(sa[i])));
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), v);
        _mm512_mask_storeu_ps(c, mk, v);
    }
}

/* One row (a step of a single sequence, the common latency case): a panel
 * at a time as one stream (i8_stream: 0.53 -> 0.46 us for LSTM-128's W_hh
 * here); two rows: eight panels at once (as one stream they were slower);
 * more rows: four panels, as the rows give the independent chains. */
#define I8_ROWS(MR)                                                                     \
    do {                                                                                \
        int p = 0;                                                                      \
        if (MR == 1)                                                                    \
            for (; p < W->panels; p++) i8_stream(1, ua, Kp, W, p, sa, c, ldc, accumulate); \
        if (MR == 2)                                                                    \
            for (; p + 8 <= W->panels; p += 8) i8_tile(MR, 8, ua, Kp, W, p, sa, c, ldc, accumulate); \
        for (; p + 4 <= W->panels; p += 4) i8_tile(MR, 4, ua, Kp, W, p, sa, c, ldc, accumulate); \
        for (; p < W->panels; p++) i8_tile(MR, 1, ua, Kp, W, p, sa, c, ldc, accumulate);          \
    } while (0)

VNNI void quant_int8_gemm_vnni512(int M, const float *A, int lda, const qmat *W, float *C, int ldc,
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
        case 4: I8_ROWS(4); break;
        case 3: I8_ROWS(3); break;
        case 2: I8_ROWS(2); break;
        default: I8_ROWS(1); break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* int8 without VNNI: vpmaddwd on sign-extended bytes (AVX-512BW)            */
/* ------------------------------------------------------------------------ */

/*
 * For AVX-512 CPUs without VNNI (Skylake-SP, Cascade Lake's predecessors):
 * as quant_avx2.c's vpmaddwd path, 16 outputs of a k-group are two 32-byte
 * halves widened to 32 int16 each; vpmaddwd against the row's 4 inputs
 * gives 8 outputs x 2 partial sums per vector, added pairwise at the end.
 * Exact int32 sums, so the outputs equal VNNI's bit for bit.
 */

INLINE BW void madd_tile(const int MR, const int NP, const int16_t *xa, int Kp, const qmat *W, int p0,
                         const float *sa, float *C, int ldc, int accumulate)
{
    const size_t ps = (size_t)QUANT_NR * Kp;
    const int8_t *P = (const int8_t *)W->data + (size_t)p0 * ps;
    __m512i acc[4][8]; /* [row][panel half] */
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < 2 * NP; j++) acc[i][j] = _mm512_setzero_si512();
    for (int k = 0; k < Kp; k += 4) {
        __m512i w[8];
#pragma GCC unroll 8
        for (int j = 0; j < 2 * NP; j++)
            w[j] = _mm512_cvtepi8_epi16(
                _mm256_load_si256((const __m256i *)(P + (j / 2) * ps + (size_t)k * QUANT_NR + (j % 2) * 32)));
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            int64_t a4;
            memcpy(&a4, xa + (size_t)i * Kp + k, sizeof a4);
            __m512i a = _mm512_set1_epi64(a4);
#pragma GCC unroll 8
            for (int j = 0; j < 2 * NP; j++) acc[i][j] = _mm512_add_epi32(acc[i][j], _mm512_madd_epi16(a, w[j]));
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        int n = (p0 + j) * QUANT_NR, cols = W->N - n;
        __mmask16 mk = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
        __m512 sc = _mm512_loadu_ps(W->scale + n);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            __m512i lo = acc[i][2 * j], hi = acc[i][2 * j + 1];
            __m512i s = _mm512_add_epi32(_mm512_permutex2var_epi32(lo, even, hi), _mm512_permutex2var_epi32(lo, odd, hi));
            float *c = C + (size_t)i * ldc + n;
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(sc, _mm512_set1_ps(sa[i])));
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), v);
            _mm512_mask_storeu_ps(c, mk, v);
        }
    }
}

/* One or two rows: four panels at once (eight independent sums per k-group
 * and row); more rows: two panels, as the rows give the independence. */
#define MADD_ROWS(MR)                                                                        \
    do {                                                                                     \
        int p = 0;                                                                           \
        if (MR <= 2)                                                                         \
            for (; p + 4 <= W->panels; p += 4) madd_tile(MR, 4, xa, Kp, W, p, sa, c, ldc, accumulate); \
        for (; p + 2 <= W->panels; p += 2) madd_tile(MR, 2, xa, Kp, W, p, sa, c, ldc, accumulate);     \
        for (; p < W->panels; p++) madd_tile(MR, 1, xa, Kp, W, p, sa, c, ldc, accumulate);              \
    } while (0)

BW void quant_int8_gemm_avx512bw(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate)
{
    _Alignas(64) int16_t xa[4 * QUANT_MAX_K];
    float sa[4];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i += 4) {
        int mr = M - i < 4 ? M - i : 4;
        for (int r = 0; r < mr; r++) sa[r] = row_s16(A + (size_t)(i + r) * lda, W->K, Kp, xa + (size_t)r * Kp);
        float *c = C + (size_t)i * ldc;
        switch (mr) {
        case 4: MADD_ROWS(4); break;
        case 3: MADD_ROWS(3); break;
        case 2: MADD_ROWS(2); break;
        default: MADD_ROWS(1); break;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* bf16                                                                      */
/* ------------------------------------------------------------------------ */

INLINE BF16 void bf_tile(const int MR, const int NP, const uint16_t *ub, int Kp, const qmat *W, int p0,
                         float *C, int ldc, int accumulate)
{
    const size_t ps = (size_t)QUANT_NR * Kp;
    const uint16_t *P = (const uint16_t *)W->data + (size_t)p0 * ps;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < Kp; k += 2) {
        __m512i w[4];
#pragma GCC unroll 4
        for (int j = 0; j < NP; j++) w[j] = _mm512_load_si512((const void *)(P + j * ps + (size_t)k * QUANT_NR));
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            int32_t a2;
            memcpy(&a2, ub + (size_t)i * Kp + k, sizeof a2);
            __m512i a = _mm512_set1_epi32(a2);
#pragma GCC unroll 4
            for (int j = 0; j < NP; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)a, (__m512bh)w[j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
        int n = (p0 + j) * QUANT_NR, cols = W->N - n;
        __mmask16 mk = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            float *c = C + (size_t)i * ldc + n;
            __m512 v = acc[i][j];
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), v);
            _mm512_mask_storeu_ps(c, mk, v);
        }
    }
}

/* One or two rows against one panel as one stream (see i8_stream): bf16
 * LSTM-128's W_hh, one row, 1.16 -> 0.78 us here; two rows 1.12 -> 0.95. */
INLINE BF16 void bf_stream(const int MR, const uint16_t *ub, int Kp, const qmat *W, int p, float *C, int ldc,
                           int accumulate)
{
    const uint16_t *P = (const uint16_t *)W->data + (size_t)p * QUANT_NR * Kp;
    __m512 acc[2][4];
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) acc[i][u] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 8 <= Kp; k += 8)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            __m512i w = _mm512_load_si512((const void *)(P + (size_t)(k + 2 * u) * QUANT_NR));
#pragma GCC unroll 2
            for (int i = 0; i < MR; i++) {
                int32_t a2;
                memcpy(&a2, ub + (size_t)i * Kp + k + 2 * u, sizeof a2);
                acc[i][u] = _mm512_dpbf16_ps(acc[i][u], (__m512bh)_mm512_set1_epi32(a2), (__m512bh)w);
            }
        }
    for (; k < Kp; k += 2) {
        __m512i w = _mm512_load_si512((const void *)(P + (size_t)k * QUANT_NR));
#pragma GCC unroll 2
        for (int i = 0; i < MR; i++) {
            int32_t a2;
            memcpy(&a2, ub + (size_t)i * Kp + k, sizeof a2);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], (__m512bh)_mm512_set1_epi32(a2), (__m512bh)w);
        }
    }
    int n = p * QUANT_NR, cols = W->N - n;
    __mmask16 mk = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
#pragma GCC unroll 2
    for (int i = 0; i < MR; i++) {
        __m512 v = _mm512_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]), _mm512_add_ps(acc[i][2], acc[i][3]));
        float *c = C + (size_t)i * ldc + n;
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), v);
        _mm512_mask_storeu_ps(c, mk, v);
    }
}

#define BF_ROWS(MR)                                                                      \
    do {                                                                                 \
        int p = 0;                                                                       \
        if (MR <= 2)                                                                     \
            for (; p < W->panels; p++) bf_stream(MR <= 2 ? MR : 1, ub, Kp, W, p, c, ldc, accumulate); \
        for (; p + 4 <= W->panels; p += 4) bf_tile(MR, 4, ub, Kp, W, p, c, ldc, accumulate); \
        for (; p < W->panels; p++) bf_tile(MR, 1, ub, Kp, W, p, c, ldc, accumulate);          \
    } while (0)

BF16 void quant_bf16_gemm_bf16_512(int M, const float *A, int lda, const qmat *W, float *C, int ldc,
                                   int accumulate)
{
    _Alignas(64) uint16_t ub[4 * QUANT_MAX_K];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i += 4) {
        int mr = M - i < 4 ? M - i : 4;
        for (int r = 0; r < mr; r++) row_bf16(A + (size_t)(i + r) * lda, W->K, Kp, ub + (size_t)r * Kp);
        float *c = C + (size_t)i * ldc;
        switch (mr) {
        case 4: BF_ROWS(4); break;
        case 3: BF_ROWS(3); break;
        case 2: BF_ROWS(2); break;
        default: BF_ROWS(1); break;
        }
    }
}
