/*
 * Hand-written kernels, one table per instruction set, chosen at run time:
 * the activation functions and a matrix product against a pre-packed
 * right-hand side (the recurrent weights, packed once per batch), which
 * avoids re-packing W_hh at every time step as a general GEMM must.
 */
#ifndef RECUR_NN_KERNELS_H
#define RECUR_NN_KERNELS_H
#include <stddef.h>

/* One LSTM or GRU step fused with its two products (kernels_fused.inc), for
 * b rows and units u0.. u1-1 (multiples of fused_nr). The gates of row r are
 * x[r] W_ih^T (or a[r] when x is NULL: projections made elsewhere, bias
 * included) + hp[r] W_hh^T (none when hp is NULL: a zero state) + bias (when
 * not NULL), W_ih^T and W_hh^T packed by pack_bt in panels of fused_nr
 * columns (the GRU's W_hn^T apart, in whhn, kept out of the input side's n
 * as the reset gate needs). h_t goes to y[r][u - u0] (stride ldy); with
 * save_act the activations go to a[r][q H + u] (stride lda) for backward.
 * LSTM: the cell updates c[r][u - u0] (stride ldc; a copy to csave, same
 * stride, when not NULL). GRU: b_hn is W_hn's bias; with save_act, hnl
 * [r][u - u0] (stride ldc) receives hp W_hn^T + b_hn. RNN: h = relu(.) when
 * relu, else tanh(.). */
typedef struct step_args {
    int b, n_in, n_h, u0, u1; /* rows, input and hidden sizes, units */
    const float *x;
    int ldx;
    const float *hp;
    int ldh;
    const float *wih, *whh, *whhn, *bias, *b_hn;
    float *a;
    int lda, save_act;
    float *c, *csave, *hnl;
    int ldc;
    float *y;
    int ldy, relu;
} step_args;

typedef struct kernels {
    const char *name;
    int nr;       /* panel width of packed matrices (floats) */
    int fused_nr; /* units per block of lstm_step / gru_step, 0 without */
    void (*sigmoid)(float *x, int n);
    void (*tanh)(float *x, int n);
    /* C[M][N] = A[M][K] B (accumulate: C +=), with B packed by
     * kernels_pack_b / kernels_pack_bt for this table's nr. */
    void (*gemm_packed)(int M, int N, int K, const float *A, int lda, const float *Bp, float *C,
                        int ldc, int accumulate);
    /* The same with A stored transposed: C[M][N] (+)= A^T B, A [K][M]. */
    void (*gemm_packed_ta)(int M, int N, int K, const float *A, int lda, const float *Bp, float *C,
                           int ldc, int accumulate);
    /* One LSTM step of b rows, fused in one pass: a [b][4H] pre-activations
     * (i, f, g, o), plus bias [4H] when not NULL (so that the layer needs
     * no pass of its own to add it), become activations; c [b][H] is
     * updated in place (and copied to csave if not NULL); h [b][H] = o
     * tanh(c), copied to y (row stride ldy) if not NULL. */
    void (*lstm_forward)(int b, int H, float *a, const float *bias, float *c, float *csave, float *h, float *y,
                         int ldy);
    /* One GRU step of b rows: a [b][3H] pre-activations (r, z, and the
     * input side of n; plus bias [3H] when not NULL) become activations;
     * hn [b][H] = W_hn h_prev, b_hn [H]; h [b][H] (h_prev on entry) becomes
     * h_new, copied to y if not NULL; hnl [b][H] receives hn + b_hn when
     * not NULL. */
    void (*gru_forward)(int b, int H, float *a, const float *bias, const float *hn, const float *b_hn, float *h,
                        float *hnl, float *y, int ldy);
    /* The LSTM step's backward for b rows: dh [b][H] the gradient of h,
     * dc [b][H] that of c (replaced by the gradient of c_prev), act the
     * forward's activations [b][4H], c and c_prev [b][H]; writes the
     * gradient of the pre-activations into dxg [b][4H]. */
    void (*lstm_backward)(int b, int H, const float *dh, float *dc, const float *act, const float *c,
                          const float *c_prev, float *dxg);
    /* The GRU step's backward for b rows: dh [b][H], act the forward's r, z,
     * n [b][3H], hnl its hn + b_hn and h_prev [b][H]; writes dxg [b][3H]
     * (input side), dhg [b][3H] (W_hh side: the n part scaled by r) and
     * dh_prev [b][H] = z dh (the direct part). */
    void (*gru_backward)(int b, int H, const float *dh, const float *act, const float *hnl,
                         const float *h_prev, float *dxg, float *dhg, float *dh_prev);
    /* kernels_pack_bt's work (below), done with this table's vectors: the
     * recurrent weights are packed at every training forward, and a scalar
     * transpose of them cost up to a sixth of a short sequence's time. */
    void (*pack_bt)(int nr, int N, int K, const float *M, int ld, float *Bp);
    /* sum[j] += A[r][j] for r = 0..n-1, j < cols (row stride lda), in
     * double, row after row: every level adds in the same order, so the
     * bias gradients agree to the bit across levels. */
    void (*colsum)(int n, int cols, const float *A, int lda, double *sum);
    /* NULL where the level has no fused steps (fused_nr 0). */
    void (*lstm_step)(const step_args *s);
    void (*gru_step)(const step_args *s);
    /* The plain RNN's (relu or tanh): units in blocks of 4 fused_nr. */
    void (*rnn_step)(const step_args *s);
} kernels;

/* The best table for this CPU (see core/cpu.h for RECUR_KERNELS). */
const kernels *kernels_get(void);
/* The table of one level (CPU_GENERIC, CPU_AVX2, CPU_AVX512), or NULL when
 * this CPU cannot run it. */
const kernels *kernels_level(int level);

/* Floats a packed K x N matrix takes. */
size_t kernels_packed_size(const kernels *k, int N, int K);
/* Pack B = M^T where M is [N][K] (row stride ld): B[k][n] = M[n][k]. */
void kernels_pack_bt(const kernels *k, int N, int K, const float *M, int ld, float *Bp);
/* Pack B given as [K][N] (row stride ld). */
void kernels_pack_b(const kernels *k, int N, int K, const float *B, int ld, float *Bp);

/*
 * A general product through the packed kernels, for the engine's large
 * products (input projections, weight and input gradients):
 * C[M][N] = op(A) op(B) (+ C when accumulate), op = transpose when ta / tb.
 * B is packed block by block (KERNELS_KC x KERNELS_NC) into scratch, which
 * holds KERNELS_GEMM_SCRATCH floats (with ta, blocks of A are copied there
 * too); one scratch per concurrent caller.
 */
#define KERNELS_KC 128
#define KERNELS_NC 256
#define KERNELS_MC 96     /* rows of a transposed A copied at a time (kernels.c) */
#define KERNELS_NC_TA 512 /* columns of B a copy of A serves (kernels.c) */
#define KERNELS_GEMM_SCRATCH (KERNELS_KC * (KERNELS_NC_TA + KERNELS_MC))
void kernels_gemm(const kernels *k, int ta, int tb, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, int accumulate, float *C, int ldc, float *scratch);
/* kernels_gemm with ta: a weight gradient C (+)= A^T op(B), A [K][M]; also
 * adds each column of A (its K values, in order, in double: the table's
 * colsum) to sums [M], the bias gradient, from the copies of A the product
 * makes anyway, instead of a pass of its own over A. */
void kernels_gemm_ta_sums(const kernels *k, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                          int ldb, int accumulate, float *C, int ldc, float *scratch, double *sums);

extern const kernels kernels_generic, kernels_avx2, kernels_avx512;

#endif
