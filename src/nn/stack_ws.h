/*
 * The stack's workspace and what its forward (stack_forward.c), backward
 * (stack_backward.c) and products (stack.c) share; internal to those files.
 */
#ifndef RECUR_NN_STACK_WS_H
#define RECUR_NN_STACK_WS_H
#include <signal.h>

#include "core/pool.h"
#include "nn/kernels.h"
#include "nn/pack.h"
#include "nn/quant.h"
#include "nn/stack.h"

typedef struct dir_ws {
    float *A;   /* [N][GH] input projections, then gate activations       */
    float *Hp;  /* [N][H]  h_prev of every row (train)                     */
    float *C;   /* [N][H]  LSTM c_new (train)                              */
    float *Cp;  /* [N][H]  LSTM c_prev (train)                             */
    float *HNL; /* [N][H]  GRU W_hn h + b_hn (train)                       */
    float *dA;  /* [N][GH] gradient of the pre-activations (train)         */
    float *dGh; /* [N][GH] GRU: the W_hh side of it (train)                */
    float *WhhT; /* W_hh^T packed for the step product h W_hh^T (GRU: the
                  * r and z rows; the n rows are in WhhTn)                */
    float *WhhTn;
    float *WihT; /* W_ih^T packed: each step's input projection, made in
                  * the time loop while its rows are in cache            */
    float *Whh;  /* W_hh packed for the backward product dG W_hh (train)   */
} dir_ws;

struct stack_ws {
    const kernels *kn; /* chosen for this CPU when the workspace is made */
    const qkernels *qk; /* the same for reduced-precision weights (st->q) */
    pool *pool;        /* threads (not owned); NULL runs on the caller   */
    int N, B, train;
    int weights_fixed, packed_valid; /* see stack_ws_fix_weights         */
    int packed_nr;                   /* panel width WhhT, WihT were packed in */
    float *bias;                     /* [GH] scratch                     */
    double *dsum;                    /* [GH] a bias gradient's sums (train) */
    int L, D;
    dir_ws *dir;  /* [L*D] */
    float **Y;    /* [L] outputs [N][D*H]                                  */
    float **Xd;   /* [L] dropped-out inputs [N][D*H] (l >= 1, train)       */
    float **mask; /* [L] dropout scale per element (l >= 1, train)         */
    float *dY;    /* [N][D*H] gradient of a layer's output (train)         */
    float *dHt;   /* [N][D*H] dLoss/dh_t of the last layer (train)         */
    float *dX;    /* [N][D*H] gradient of a layer's input (train)          */
    float *S, *Cs;   /* [B][H] running state                               */
    float *HG;       /* [B][GH] h W_hh^T of one step                       */
    float *dS, *dC;  /* [B][H] gradient flowing back through the state     */
    float *dh;       /* [B][H] */
    float *scratch;  /* [scratch_threads][KERNELS_GEMM_SCRATCH] packing  */
    int scratch_threads;
    /* Looked at between time steps and between chunks of the large
     * products (stack_ws_set_stop); NULL: never. */
    const volatile sig_atomic_t *stop;
    float *Ag;       /* [B][GH] gates of a step, split by units (see below) */
    float *bias_u;   /* [GH] the input bias in the units split's order     */
    int split;       /* RECUR_STEP_SPLIT: 1 sequences, 2 units, 0 chosen (below) */
    int units_backoff; /* passes left to run by sequences after a slow barrier */
};

static inline int stack_stopped(const stack_ws *ws) { return ws->stop && *ws->stop; }

static inline int stack_layer_input(const stack *st, int l) { return l == 0 ? st->I : st->D * st->H; }

#define MAX_SHARES 64
typedef struct dir_job {
    const stack *st;
    stack_ws *ws;
    const pack *p;
    int l, d, train;
    const float *X;    /* forward: the layer's input [N][I], or NULL when A holds its projections */
    const float *bias; /* forward with X: stack_input_bias, added by the cells */
    const float *h0, *c0, *dY, *dhn, *dcn;
    float *hn, *cn, *dh0, *dc0;
    int bounds[MAX_SHARES + 1];
    struct step_barrier *barrier; /* the units split's, or NULL */
} dir_job;

/* Threads split a batch by sequences (stack.c): bounds[0..nt] of rows. */
void stack_split_sequences(const pack *p, int nt, int *bounds);
/* Threads for the sequence split: the pool's, at most one a sequence. */
int stack_shares(const stack_ws *ws, const pack *p);
/* Copy rows j0..j1-1 of a [B][H] state, or zero them. */
void stack_state_rows(float *dst, const float *src, int j0, int j1, int H);
/* A packing of weights in panels of nr, split over the pool (stack.c). */
void stack_pack_weights(const stack_ws *ws, int bt, int nr, int N, int K, const float *M, int ld, float *Bp);
/* A weight gradient and its bias gradient's sums (stack.c). */
void stack_wgrad(stack_ws *ws, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                 float *acc, float *acc2);

#endif
