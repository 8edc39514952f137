/* Quantized weight matrices: packing, the portable kernels, selection. */
#include "nn/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

/* ------------------------------------------------------------------------ */
/* Conversions                                                               */
/* ------------------------------------------------------------------------ */

uint16_t quant_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(u >> 16 | 0x40); /* quiet NaN */
    u += 0x7fffu + (u >> 16 & 1); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float quant_from_bf16(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void quant_rows_int8(int N, int K, const float *W, int8_t *q, float *scale)
{
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        float amax = 0.0f;
        for (int k = 0; k < K; k++) amax = fabsf(w[k]) > amax ? fabsf(w[k]) : amax;
        float s = amax / 127.0f;
        scale[n] = s;
        for (int k = 0; k < K; k++) {
            long v = s > 0.0f ? lrintf(w[k] / s) : 0;
            q[(size_t)n * K + k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

/* Activations are symmetric int8 with their own scale per row, stored as
 * u8 = q + 128 because vpdpbusd multiplies unsigned by signed bytes; the
 * 128 * sum_k w[n][k] this adds is the precomputed comp[n]. */
float quant_row_u8(const float *a, int K, int Kp, uint8_t *out)
{
    float amax = 0.0f;
    for (int k = 0; k < K; k++) amax = fabsf(a[k]) > amax ? fabsf(a[k]) : amax;
    float inv = amax > 0.0f && amax <= 3.0e38f ? 127.0f / amax : 0.0f;
    for (int k = 0; k < K; k++) {
        long v = lrintf(a[k] * inv);
        out[k] = (uint8_t)((v > 127 ? 127 : v < -127 ? -127 : v) + 128);
    }
    for (int k = K; k < Kp; k++) out[k] = 128;
    return inv > 0.0f ? amax / 127.0f : 0.0f;
}

void quant_row_bf16(const float *a, int K, int Kp, uint16_t *out)
{
    for (int k = 0; k < K; k++) out[k] = quant_to_bf16(a[k]);
    for (int k = K; k < Kp; k++) out[k] = 0;
}

/* ------------------------------------------------------------------------ */
/* Packing                                                                   */
/* ------------------------------------------------------------------------ */

void qmat_free(qmat *m)
{
    if (!m) return;
    free(m->data);
    free(m->scale);
    free(m->comp);
    memset(m, 0, sizeof *m);
}

int qmat_pack(qmat *m, recur_dtype dtype, int N, int K, const void *w, size_t ld, const float *scale)
{
    memset(m, 0, sizeof *m);
    int i8 = dtype == RECUR_DTYPE_INT8, step = i8 ? 4 : 2;
    m->dtype = dtype;
    m->N = N;
    m->K = K;
    m->Kp = (K + step - 1) / step * step;
    m->panels = (N + QUANT_NR - 1) / QUANT_NR;
    size_t rows = (size_t)m->panels * QUANT_NR, esize = i8 ? 1 : 2;
    size_t bytes = rows * (size_t)m->Kp * esize;
    m->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (i8) {
        m->scale = calloc(rows, sizeof *m->scale);
        m->comp = calloc(rows, sizeof *m->comp);
    }
    if (!m->data || (i8 && (!m->scale || !m->comp))) {
        qmat_free(m);
        return -1;
    }
    memset(m->data, 0, (bytes + 63) / 64 * 64);
    for (int n = 0; n < N; n++) {
        size_t base = (size_t)(n / QUANT_NR) * QUANT_NR * m->Kp, r = (size_t)(n % QUANT_NR);
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            size_t at = base + (size_t)(k / step) * QUANT_NR * step + r * step + (size_t)(k % step);
            if (i8) {
                int8_t v = ((const int8_t *)w)[(size_t)n * ld + k];
                ((int8_t *)m->data)[at] = v;
                sum += v;
            } else {
                ((uint16_t *)m->data)[at] = ((const uint16_t *)w)[(size_t)n * ld + k];
            }
        }
        if (i8) {
            m->scale[n] = scale[n];
            m->comp[n] = 128 * sum;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Portable kernels                                                          */
/* ------------------------------------------------------------------------ */

void quant_int8_gemm_generic(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate)
{
    uint8_t ua[QUANT_MAX_K];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i++) {
        float sa = quant_row_u8(A + (size_t)i * lda, W->K, Kp, ua);
        float *c = C + (size_t)i * ldc;
        for (int p = 0; p < W->panels; p++) {
            const int8_t *P = (const int8_t *)W->data + (size_t)p * QUANT_NR * Kp;
            int32_t acc[QUANT_NR] = {0};
            for (int k = 0; k < Kp; k += 4) {
                const int8_t *w = P + (size_t)k * QUANT_NR;
                for (int r = 0; r < QUANT_NR; r++)
                    acc[r] += ua[k] * w[4 * r] + ua[k + 1] * w[4 * r + 1] + ua[k + 2] * w[4 * r + 2] +
                              ua[k + 3] * w[4 * r + 3];
            }
            for (int r = 0; r < QUANT_NR && p * QUANT_NR + r < W->N; r++) {
                int n = p * QUANT_NR + r;
                float v = (float)(acc[r] - W->comp[n]) * (W->scale[n] * sa);
                c[n] = accumulate ? c[n] + v : v;
            }
        }
    }
}

void quant_bf16_gemm_generic(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate)
{
    uint16_t ub[QUANT_MAX_K];
    const int Kp = W->Kp;
    for (int i = 0; i < M; i++) {
        quant_row_bf16(A + (size_t)i * lda, W->K, Kp, ub);
        float *c = C + (size_t)i * ldc;
        for (int p = 0; p < W->panels; p++) {
            const uint16_t *P = (const uint16_t *)W->data + (size_t)p * QUANT_NR * Kp;
            float acc[QUANT_NR] = {0};
            for (int k = 0; k < Kp; k += 2) {
                const uint16_t *w = P + (size_t)k * QUANT_NR;
                float a0 = quant_from_bf16(ub[k]), a1 = quant_from_bf16(ub[k + 1]);
                for (int r = 0; r < QUANT_NR; r++)
                    acc[r] += a0 * quant_from_bf16(w[2 * r]) + a1 * quant_from_bf16(w[2 * r + 1]);
            }
            for (int r = 0; r < QUANT_NR && p * QUANT_NR + r < W->N; r++) {
                int n = p * QUANT_NR + r;
                c[n] = accumulate ? c[n] + acc[r] : acc[r];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Selection                                                                 */
/* ------------------------------------------------------------------------ */

/* Every combination a CPU can have: [int8 kernel][bf16 kernel]; int8 from
 * the slowest: portable C, vpmaddwd on AVX2 and on AVX-512BW (CPUs without
 * VNNI), AVX-VNNI, AVX-512 VNNI. */
#define Q(name, i8, bf, i8s, bfs) {name, i8, bf, i8s, bfs}
#define BF quant_bf16_gemm_bf16_512
#define BFS quant_step_bf16_512
static const qkernels tables[5][2] = {
    {Q("generic", quant_int8_gemm_generic, quant_bf16_gemm_generic, NULL, NULL),
     Q("generic+bf16-512", quant_int8_gemm_generic, BF, NULL, BFS)},
    {Q("avx2-madd", quant_int8_gemm_avx2, quant_bf16_gemm_generic, NULL, NULL),
     Q("avx2-madd+bf16-512", quant_int8_gemm_avx2, BF, NULL, BFS)},
    {Q("avx512bw-madd", quant_int8_gemm_avx512bw, quant_bf16_gemm_generic, quant_step_avx512bw, NULL),
     Q("avx512bw-madd+bf16-512", quant_int8_gemm_avx512bw, BF, quant_step_avx512bw, BFS)},
    {Q("avx-vnni", quant_int8_gemm_avxvnni, quant_bf16_gemm_generic, NULL, NULL),
     Q("avx-vnni+bf16-512", quant_int8_gemm_avxvnni, BF, NULL, BFS)},
    {Q("avx512-vnni", quant_int8_gemm_vnni512, quant_bf16_gemm_generic, quant_step_vnni512, NULL),
     Q("avx512-vnni+bf16-512", quant_int8_gemm_vnni512, BF, quant_step_vnni512, BFS)},
};
#undef Q
#undef BF
#undef BFS

const qkernels *qkernels_select(int level, int f)
{
    if (level > cpu_level_supported()) return NULL;
    int i8 = 0, bf = 0;
    if (level >= CPU_AVX512 && (f & CPU_VNNI512)) i8 = 4;
    else if (level >= CPU_AVX2 && (f & CPU_AVXVNNI)) i8 = 3;
    else if (level >= CPU_AVX512 && (f & CPU_AVX512BW)) i8 = 2;
    else if (level >= CPU_AVX2) i8 = 1;
    if (level >= CPU_AVX512 && (f & CPU_BF16_512)) bf = 1;
    return &tables[i8][bf];
}

const qkernels *qkernels_level(int level) { return qkernels_select(level, cpu_features()); }

const qkernels *qkernels_get(void) { return qkernels_level(cpu_level()); }
