/*
 * Reduced-precision weight matrices for inference, and the products that
 * read them: y[M][N] (+)= x[M][K] W^T with W [N][K] held as
 *   int8: one symmetric scale per output row, w = q * scale[n], q in
 *         -127..127 (the file may hold -128); each row of x is quantised
 *         on the fly to 8 bits with its own scale max|x| / 127, the
 *         products summed exactly in int32, then scaled back to float;
 *   bf16: w rounded to bfloat16, x rounded to bfloat16 as it is read,
 *         products exact and summed in float.
 * Why: a small-batch recurrent step streams the whole of W_hh per step,
 * so its speed is bytes per weight (4 in fp32, 1 in int8, 2 in bf16).
 *
 * The packed layout is one for every kernel level, made once per model:
 * panels of 16 output rows; int8 panel p is [K4/4][16][4] bytes (row n,
 * inputs k..k+3 next to each other: one 64-byte vector feeds AVX-512 VNNI's
 * vpdpbusd, two 32-byte halves AVX-VNNI's), bf16 is [K2/2][16][2] (one
 * vector for vdpbf16ps). Rows past N and inputs past K are zero.
 *
 * The integer sums are exact, so every int8 kernel level gives the same
 * int32 sums; only the final float scaling may round differently.
 */
#ifndef RECUR_NN_QUANT_H
#define RECUR_NN_QUANT_H
#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* Largest K (inputs of a product) the kernels take: they quantise a tile
 * of rows of x into a buffer on the stack. */
#define QUANT_MAX_K 8192
#define QUANT_NR 16 /* output rows per panel */

typedef struct qmat {
    recur_dtype dtype; /* RECUR_DTYPE_INT8 or RECUR_DTYPE_BF16 */
    int N, K;
    int Kp;            /* K rounded up to 4 (int8) or 2 (bf16) */
    int panels;        /* ceil(N / 16) */
    void *data;        /* panels * 16 * Kp bytes (int8) or uint16s (bf16), 64-byte aligned */
    float *scale;      /* int8: [panels * 16], 0 past N                       */
    int32_t *comp;     /* int8: [panels * 16] 128 * sum_k q[n][k] (see quant.c) */
} qmat;

/* Pack W [N][K] (row stride ld): int8 q (int8_t) with scale [N], or bf16
 * bit patterns (uint16_t, scale NULL). 0 on success, -1 out of memory. */
int qmat_pack(qmat *m, recur_dtype dtype, int N, int K, const void *w, size_t ld, const float *scale);
void qmat_free(qmat *m);

/* A stack's recurrent products in reduced precision, one entry per
 * layer-direction ld = l * D + d: W_ih (layers >= 1; layer 0 reads lookup
 * tables built from the rounded weights), the rows of W_hh that land on the
 * input projections (all of them but the GRU's n rows) and the GRU's n
 * rows. Owned by the model (model/quant_model.c), read-only after. */
typedef struct qstack {
    int LD;
    qmat *wih, *whh, *whhn; /* [LD] each */
} qstack;

/* Per-row symmetric int8: scale[n] = max_k |W[n][k]| / 127 (0 for a zero
 * row), q = round(W / scale), so |W - q scale| <= scale / 2. */
void quant_rows_int8(int N, int K, const float *W, int8_t *q, float *scale);
/* Round to nearest even bfloat16 (NaN stays NaN), and back. */
uint16_t quant_to_bf16(float x);
float quant_from_bf16(uint16_t b);

/* One GRU or LSTM step of b rows on reduced W_hh fused with the cell
 * (quant_cell_avx512.c): h [b][H] is h_prev on entry and h_new after (and
 * copied to y at row stride ldy when y is not NULL); a [b][lda] the input
 * side of every gate (plus bias [G*H] when bias is not NULL); LSTM: c
 * [b][H] the cell state, updated; GRU: c NULL, W the r and z rows, Wn the
 * n rows, b_hn their bias. Inference only (no activations kept). */
typedef struct qcell_step {
    int b, H;
    float *h, *c, *y;
    const qmat *W, *Wn;
    const float *a, *bias, *b_hn;
    int lda, ldy;
} qcell_step;

typedef struct qkernels {
    const char *name;
    /* C[M][N] (+)= A[M][K] W^T through W packed as int8 or bf16; A rows at
     * stride lda, C at ldc, N and K are W's. */
    void (*int8_gemm)(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
    void (*bf16_gemm)(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
    /* The fused step (see qcell_step) of each dtype: 1 when done, 0 when
     * the shape is one it does not take; NULL where the level has none.
     * The caller then runs the products and the cell separately. */
    int (*int8_step)(const qcell_step *s);
    int (*bf16_step)(const qcell_step *s);
} qkernels;

/* The best table for this CPU under RECUR_KERNELS (see core/cpu.h), and
 * the table of one level (NULL when this CPU cannot run it). */
const qkernels *qkernels_get(void);
const qkernels *qkernels_level(int level);
/* The table for a level given the extensions (cpu_features() bits): what
 * qkernels_level uses, and tests reach the paths of CPUs without VNNI. */
const qkernels *qkernels_select(int level, int features);

/* The product through the kernel of W's dtype. */
static inline void quant_gemm(const qkernels *k, int M, const float *A, int lda, const qmat *W, float *C,
                              int ldc, int accumulate)
{
    if (W->dtype == RECUR_DTYPE_INT8) k->int8_gemm(M, A, lda, W, C, ldc, accumulate);
    else k->bf16_gemm(M, A, lda, W, C, ldc, accumulate);
}

/* The fused step through the kernel of s->W's dtype; 0: not done. */
static inline int quant_step(const qkernels *k, const qcell_step *s)
{
    int (*f)(const qcell_step *) = s->W->dtype == RECUR_DTYPE_INT8 ? k->int8_step : k->bf16_step;
    return f && f(s);
}

/* Shared by the kernel files: one row of A quantised to u8 = q + 128
 * (K..Kp-1 padded with 128) and its scale; bf16 rounding of a row. */
float quant_row_u8(const float *a, int K, int Kp, uint8_t *out);
void quant_row_bf16(const float *a, int K, int Kp, uint16_t *out);
/* The kernels: portable C, AVX-VNNI (quant_avx2.c), AVX-512 VNNI and
 * AVX-512 BF16 (quant_avx512.c). */
void quant_int8_gemm_generic(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
void quant_bf16_gemm_generic(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
void quant_int8_gemm_avxvnni(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
/* Without VNNI: vpmaddwd on bytes widened to 16 bits, AVX2 (quant_avx2.c)
 * and AVX-512BW (quant_avx512.c); the same sums and outputs as VNNI's. */
void quant_int8_gemm_avx2(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
void quant_int8_gemm_avx512bw(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
void quant_int8_gemm_vnni512(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
void quant_bf16_gemm_bf16_512(int M, const float *A, int lda, const qmat *W, float *C, int ldc, int accumulate);
/* The fused steps: VNNI-512, vpmaddwd on AVX-512BW, AVX-512 BF16. */
int quant_step_vnni512(const qcell_step *s);
int quant_step_avx512bw(const qcell_step *s);
int quant_step_bf16_512(const qcell_step *s);

#endif
