/*
 * A recurrent step on reduced weights fused with its cell (AVX-512): for
 * a tile of rows, h is quantised (or rounded to bf16) once, then for each
 * block of 16 units the gate panels of those units (GRU: r, z and n; LSTM:
 * i, f, g, o) go through the product together and the cell update runs on
 * the sums while they are in registers; the new h is written over the old
 * (each row's products read only its own, already converted, row).
 *
 * Why: on GRU-128 int8 batches the separate passes (the product storing
 * its gates, h converted again for W_hn, the cell reading them back, its
 * three divisions per vector) took about as long as the product itself.
 * Here sigmoid and tanh divide through vrcp14ps and one Newton step
 * (relative error about 1e-7, like the division's few ulp after the
 * exponential), and tanh(x) = 1 - 2 / (e^2x + 1) for every x (absolute
 * error about 1e-7: far below what int8 or bf16 weights move).
 *
 * Only hidden sizes that are whole panels (H % 16 == 0): a gate then
 * starts on a panel of W_hh. Other sizes return 0 and take the separate
 * passes.
 */
#include "nn/quant_avx512.h"

#define CELL BW /* what every caller below has */

/* ------------------------------------------------------------------------ */
/* Cell math                                                                 */
/* ------------------------------------------------------------------------ */

INLINE CELL __m512 qexp(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* 1 / d for d >= 1: vrcp14ps and one Newton step. */
INLINE CELL __m512 qrecip(__m512 d)
{
    __m512 y = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}

INLINE CELL __m512 qsigmoid(__m512 x)
{
    return qrecip(_mm512_add_ps(_mm512_set1_ps(1.0f), qexp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

INLINE CELL __m512 qtanh(__m512 x)
{
    __m512 e = qexp(_mm512_add_ps(x, x));
    __m512 q = qrecip(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
    return _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), q, _mm512_set1_ps(1.0f));
}

/* The rows of a step (rows at stride lda of a: the input side of every
 * gate, bias added unless bias is NULL) and the 16 units at u. */
typedef struct cell_rows {
    const float *a, *bias, *b_hn;
    float *h, *c, *y;
    int H, lda, ldy;
} cell_rows;

/* g[0..2] = W_hr h, W_hz h, W_hn h of row i, units u..u+15. */
INLINE CELL void gru_cell(const cell_rows *s, int i, int u, const __m512 *g)
{
    const float *a = s->a + (size_t)i * s->lda + u;
    float *h = s->h + (size_t)i * s->H + u;
    const size_t H = (size_t)s->H;
    __m512 pr = _mm512_add_ps(_mm512_loadu_ps(a), g[0]), pz = _mm512_add_ps(_mm512_loadu_ps(a + H), g[1]);
    __m512 pn = _mm512_loadu_ps(a + 2 * H);
    if (s->bias) {
        pr = _mm512_add_ps(pr, _mm512_loadu_ps(s->bias + u));
        pz = _mm512_add_ps(pz, _mm512_loadu_ps(s->bias + H + u));
        pn = _mm512_add_ps(pn, _mm512_loadu_ps(s->bias + 2 * H + u));
    }
    __m512 r = qsigmoid(pr), z = qsigmoid(pz);
    __m512 n = qtanh(_mm512_fmadd_ps(r, _mm512_add_ps(g[2], _mm512_loadu_ps(s->b_hn + u)), pn));
    __m512 hv = _mm512_fmadd_ps(z, _mm512_sub_ps(_mm512_loadu_ps(h), n), n); /* (1 - z) n + z h */
    _mm512_storeu_ps(h, hv);
    if (s->y) _mm512_storeu_ps(s->y + (size_t)i * s->ldy + u, hv);
}

/* g[0..3] = W_hi h, W_hf h, W_hg h, W_ho h of row i, units u..u+15. */
INLINE CELL void lstm_cell(const cell_rows *s, int i, int u, const __m512 *g)
{
    const float *a = s->a + (size_t)i * s->lda + u;
    const size_t H = (size_t)s->H;
    float *h = s->h + (size_t)i * H + u, *c = s->c + (size_t)i * H + u;
    __m512 p[4];
    #pragma GCC unroll 8
    for (int q = 0; q < 4; q++) {
        p[q] = _mm512_add_ps(_mm512_loadu_ps(a + q * H), g[q]);
        if (s->bias) p[q] = _mm512_add_ps(p[q], _mm512_loadu_ps(s->bias + q * H + u));
    }
    __m512 ig = qsigmoid(p[0]), fg = qsigmoid(p[1]), gg = qtanh(p[2]), og = qsigmoid(p[3]);
    __m512 cv = _mm512_fmadd_ps(fg, _mm512_loadu_ps(c), _mm512_mul_ps(ig, gg));
    _mm512_storeu_ps(c, cv);
    __m512 hv = _mm512_mul_ps(og, qtanh(cv));
    _mm512_storeu_ps(h, hv);
    if (s->y) _mm512_storeu_ps(s->y + (size_t)i * s->ldy + u, hv);
}

/* The gate panels of unit block j: gate q of G is panel q * H/16 + j of W
 * (GRU: r, z of W, n from panel j of Wn). */
typedef struct gate_panels {
    const unsigned char *p[4];
    const int32_t *comp[4];
    const float *sc[4];
} gate_panels;

INLINE void panels_of(const qmat *W, const qmat *Wn, int G, int H, int j, size_t esize, gate_panels *gp)
{
    const size_t ps = (size_t)QUANT_NR * W->Kp * esize;
    #pragma GCC unroll 8
    for (int q = 0; q < G; q++) {
        const qmat *m = Wn && q == G - 1 ? Wn : W;
        int p = Wn && q == G - 1 ? j : q * (H / QUANT_NR) + j;
        gp->p[q] = (const unsigned char *)m->data + (size_t)p * ps;
        gp->comp[q] = m->comp ? m->comp + p * QUANT_NR : NULL;
        gp->sc[q] = m->scale ? m->scale + p * QUANT_NR : NULL;
    }
}

/* Then, per tile of MR rows and unit block: the products into g[MR][G]. */
#define CELL_DISPATCH(G, MR, PRODUCT, ...)                                          \
    for (int j = 0; j < H / QUANT_NR; j++) {                                         \
        gate_panels gp;                                                              \
        panels_of(W, Wn, G, H, j, ESIZE, &gp);                                       \
        __m512 g[4][4];                                                              \
        PRODUCT(MR, G, __VA_ARGS__, Kp, &gp, g);                                     \
        _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) {                       \
            if (G == 3) gru_cell(s, i0 + i, j * QUANT_NR, g[i]);                     \
            else lstm_cell(s, i0 + i, j * QUANT_NR, g[i]);                           \
        }                                                                            \
    }

/* ------------------------------------------------------------------------ */
/* int8, VNNI                                                                */
/* ------------------------------------------------------------------------ */

/* MR rows (u8, scales sa) against the G gate panels; one row keeps four
 * partial sums per panel so that the chains of vpdpbusd overlap. */
INLINE VNNI void i8_gates(const int MR, const int G, const uint8_t *ua, const float *sa, int Kp,
                          const gate_panels *gp, __m512 g[4][4])
{
    const int U = MR == 1 ? 4 : 1, NA = MR * G * U;
    __m512i acc[16];
#pragma GCC unroll 16
    for (int t = 0; t < NA; t++) acc[t] = _mm512_setzero_si512();
    const int8_t *p0 = (const int8_t *)gp->p[0], *p1 = (const int8_t *)gp->p[1], *p2 = (const int8_t *)gp->p[2],
                 *p3 = (const int8_t *)gp->p[G > 3 ? 3 : 2];
    for (int k = 0; k < Kp; k += 4 * U) {
#pragma GCC unroll 4
        for (int v = 0; v < U; v++) {
            size_t o = (size_t)(k + 4 * v) * QUANT_NR;
            __m512i w[4] = {_mm512_load_si512((const void *)(p0 + o)), _mm512_load_si512((const void *)(p1 + o)),
                            _mm512_load_si512((const void *)(p2 + o)), _mm512_setzero_si512()};
            if (G > 3) w[3] = _mm512_load_si512((const void *)(p3 + o));
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                int32_t a4;
                memcpy(&a4, ua + (size_t)i * Kp + k + 4 * v, sizeof a4);
                __m512i x = _mm512_set1_epi32(a4);
#pragma GCC unroll 4
                for (int q = 0; q < G; q++)
                    acc[(i * G + q) * U + v] = _mm512_dpbusd_epi32(acc[(i * G + q) * U + v], x, w[q]);
            }
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < G; q++) {
        __m512i comp = _mm512_loadu_si512((const void *)gp->comp[q]);
        __m512 sc = _mm512_loadu_ps(gp->sc[q]);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++) {
            __m512i t = acc[(i * G + q) * U];
            if (U == 4)
                t = _mm512_add_epi32(_mm512_add_epi32(t, acc[(i * G + q) * U + 1]),
                                     _mm512_add_epi32(acc[(i * G + q) * U + 2], acc[(i * G + q) * U + 3]));
            g[i][q] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(t, comp)),
                                    _mm512_mul_ps(sc, _mm512_set1_ps(sa[i])));
        }
    }
}

#define ESIZE 1
static VNNI __attribute__((flatten)) void i8_steps(int b, int G, int H, const qmat *W, const qmat *Wn,
                                                    const cell_rows *s)
{
    _Alignas(64) uint8_t ua[4 * QUANT_MAX_K];
    float sa[4];
    const int Kp = W->Kp;
    for (int i0 = 0; i0 < b; i0 += 4) {
        int mr = b - i0 < 4 ? b - i0 : 4;
        for (int r = 0; r < mr; r++) sa[r] = row_u8(s->h + (size_t)(i0 + r) * H, H, Kp, ua + (size_t)r * Kp);
        if (G == 3) {
            switch (mr) {
            case 4: CELL_DISPATCH(3, 4, i8_gates, ua, sa); break;
            case 3: CELL_DISPATCH(3, 3, i8_gates, ua, sa); break;
            case 2: CELL_DISPATCH(3, 2, i8_gates, ua, sa); break;
            default: CELL_DISPATCH(3, 1, i8_gates, ua, sa); break;
            }
        } else {
            switch (mr) {
            case 4: CELL_DISPATCH(4, 4, i8_gates, ua, sa); break;
            case 3: CELL_DISPATCH(4, 3, i8_gates, ua, sa); break;
            case 2: CELL_DISPATCH(4, 2, i8_gates, ua, sa); break;
            default: CELL_DISPATCH(4, 1, i8_gates, ua, sa); break;
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* int8 without VNNI: vpmaddwd (the same int32 sums, so the same bits)       */
/* ------------------------------------------------------------------------ */

/* At most two rows: each panel is two vectors of 16-bit weights. */
INLINE BW void madd_gates(const int MR, const int G, const int16_t *xa, const float *sa, int Kp,
                          const gate_panels *gp, __m512 g[4][4])
{
    __m512i acc[2][8];
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        for (int q = 0; q < 2 * G; q++) acc[i][q] = _mm512_setzero_si512();
    for (int k = 0; k < Kp; k += 4) {
        __m512i w[8];
        for (int q = 0; q < 2 * G; q++)
            w[q] = _mm512_cvtepi8_epi16(
                _mm256_load_si256((const __m256i *)(gp->p[q / 2] + (size_t)k * QUANT_NR + (q % 2) * 32)));
        for (int i = 0; i < MR; i++) {
            int64_t a4;
            memcpy(&a4, xa + (size_t)i * Kp + k, sizeof a4);
            __m512i x = _mm512_set1_epi64(a4);
            #pragma GCC unroll 8
            for (int q = 0; q < 2 * G; q++) acc[i][q] = _mm512_add_epi32(acc[i][q], _mm512_madd_epi16(x, w[q]));
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    #pragma GCC unroll 8
    for (int q = 0; q < G; q++) {
        __m512 sc = _mm512_loadu_ps(gp->sc[q]);
        for (int i = 0; i < MR; i++) {
            __m512i lo = acc[i][2 * q], hi = acc[i][2 * q + 1];
            __m512i t = _mm512_add_epi32(_mm512_permutex2var_epi32(lo, even, hi), _mm512_permutex2var_epi32(lo, odd, hi));
            g[i][q] = _mm512_mul_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(sc, _mm512_set1_ps(sa[i])));
        }
    }
}

static BW __attribute__((flatten)) void madd_steps(int b, int G, int H, const qmat *W, const qmat *Wn,
                                                    const cell_rows *s)
{
    _Alignas(64) int16_t xa[2 * QUANT_MAX_K];
    float sa[2];
    const int Kp = W->Kp;
    for (int i0 = 0; i0 < b; i0 += 2) {
        int mr = b - i0 < 2 ? b - i0 : 2;
        for (int r = 0; r < mr; r++) sa[r] = row_s16(s->h + (size_t)(i0 + r) * H, H, Kp, xa + (size_t)r * Kp);
        if (G == 3) {
            if (mr == 2) CELL_DISPATCH(3, 2, madd_gates, xa, sa) else CELL_DISPATCH(3, 1, madd_gates, xa, sa)
        } else {
            if (mr == 2) CELL_DISPATCH(4, 2, madd_gates, xa, sa) else CELL_DISPATCH(4, 1, madd_gates, xa, sa)
        }
    }
}
#undef ESIZE

/* ------------------------------------------------------------------------ */
/* bf16                                                                      */
/* ------------------------------------------------------------------------ */

INLINE BF16 void bf_gates(const int MR, const int G, const uint16_t *ub, int Kp, const gate_panels *gp,
                          __m512 g[4][4])
{
    const int U = MR == 1 ? 4 : 1, NA = MR * G * U;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int t = 0; t < NA; t++) acc[t] = _mm512_setzero_ps();
    const unsigned char *p0 = gp->p[0], *p1 = gp->p[1], *p2 = gp->p[2], *p3 = gp->p[G > 3 ? 3 : 2];
    for (int k = 0; k < Kp; k += 2 * U) {
#pragma GCC unroll 4
        for (int v = 0; v < U; v++) {
            size_t o = (size_t)(k + 2 * v) * QUANT_NR * 2;
            __m512i w[4] = {_mm512_load_si512((const void *)(p0 + o)), _mm512_load_si512((const void *)(p1 + o)),
                            _mm512_load_si512((const void *)(p2 + o)), _mm512_setzero_si512()};
            if (G > 3) w[3] = _mm512_load_si512((const void *)(p3 + o));
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                int32_t a2;
                memcpy(&a2, ub + (size_t)i * Kp + k + 2 * v, sizeof a2);
                __m512i x = _mm512_set1_epi32(a2);
#pragma GCC unroll 4
                for (int q = 0; q < G; q++)
                    acc[(i * G + q) * U + v] = _mm512_dpbf16_ps(acc[(i * G + q) * U + v], (__m512bh)x, (__m512bh)w[q]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int q = 0; q < G; q++) {
            const __m512 *t = acc + (i * G + q) * U;
            g[i][q] = U == 4 ? _mm512_add_ps(_mm512_add_ps(t[0], t[1]), _mm512_add_ps(t[2], t[3])) : t[0];
        }
}

#define ESIZE 2
static BF16 __attribute__((flatten)) void bf_steps(int b, int G, int H, const qmat *W, const qmat *Wn,
                                                    const cell_rows *s)
{
    _Alignas(64) uint16_t ub[4 * QUANT_MAX_K];
    const int Kp = W->Kp;
    for (int i0 = 0; i0 < b; i0 += 4) {
        int mr = b - i0 < 4 ? b - i0 : 4;
        for (int r = 0; r < mr; r++) row_bf16(s->h + (size_t)(i0 + r) * H, H, Kp, ub + (size_t)r * Kp);
        if (G == 3) {
            switch (mr) {
            case 4: CELL_DISPATCH(3, 4, bf_gates, ub); break;
            case 3: CELL_DISPATCH(3, 3, bf_gates, ub); break;
            case 2: CELL_DISPATCH(3, 2, bf_gates, ub); break;
            default: CELL_DISPATCH(3, 1, bf_gates, ub); break;
            }
        } else {
            switch (mr) {
            case 4: CELL_DISPATCH(4, 4, bf_gates, ub); break;
            case 3: CELL_DISPATCH(4, 3, bf_gates, ub); break;
            case 2: CELL_DISPATCH(4, 2, bf_gates, ub); break;
            default: CELL_DISPATCH(4, 1, bf_gates, ub); break;
            }
        }
    }
}
#undef ESIZE

/* ------------------------------------------------------------------------ */
/* Entry points (see quant.h)                                                */
/* ------------------------------------------------------------------------ */

static int fused_shape(int H, const qmat *W, int rows)
{
    return H % QUANT_NR == 0 && W->K == H && W->N == rows;
}

#define STEP_FN(name, steps, target)                                                                     \
    target int name(const qcell_step *st)                                                                \
    {                                                                                                    \
        const int G = st->c ? 4 : 3, H = st->H;                                                          \
        if (!fused_shape(H, st->W, st->c ? 4 * H : 2 * H) || (!st->c && !fused_shape(H, st->Wn, H)))    \
            return 0;                                                                                    \
        cell_rows s = {st->a, st->bias, st->b_hn, st->h, st->c, st->y, H, st->lda, st->ldy};             \
        steps(st->b, G, H, st->W, st->c ? NULL : st->Wn, &s);                                             \
        return 1;                                                                                        \
    }

STEP_FN(quant_step_vnni512, i8_steps, VNNI)
STEP_FN(quant_step_avx512bw, madd_steps, BW)
STEP_FN(quant_step_bf16_512, bf_steps, BF16)
