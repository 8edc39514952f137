/*
 * A stack of recurrent layers (L layers, D = 1 or 2 directions) over packed
 * sequences: the engine behind recur_rnn and recur_model.
 *
 * Parameters live in caller-owned flat arrays (w and g, same layout), in
 * PyTorch's state-dict order: for each layer l, for each direction d:
 * weight_ih [G*H][I_l], weight_hh [G*H][H], bias_ih [G*H], bias_hh [G*H].
 *
 * Workspaces are planned for a number of rows and sequences and reused; the
 * time loop allocates nothing.
 */
#ifndef RECUR_NN_STACK_H
#define RECUR_NN_STACK_H
#include "core/rng.h"
#include "nn/pack.h"
#include "recur.h"

typedef struct stack {
    recur_cell cell;
    int I, H, L, D, G;
    float dropout;
    float *w, *g; /* parameters and gradients (not owned) */
    /* Reduced-precision copies of the weights for inference (nn/quant.h),
     * or NULL: forwards with train == 0 then run on them (not owned). */
    const struct qstack *q;
} stack;

/* Check sizes and fill st (w, g left NULL). */
recur_status stack_init(stack *st, recur_cell cell, int I, int H, int L, int D,
                        float dropout, recur_error *err);
size_t stack_num_weights(const stack *st);
/* Tensor k of 4*L*D: its PyTorch name (without prefix), shape and offset
 * into w. */
void stack_tensor(const stack *st, int k, char *name, size_t cap, int *ndim,
                  int shape[2], size_t *offset);
/* U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch. */
void stack_init_weights(const stack *st, recur_rng *rng);

/* The bias that rides with the input projection of layer l, direction d:
 * b_ih + b_hh, except for the GRU's n gate, whose b_hn stays inside the
 * reset product (out: [G*H]). */
void stack_input_bias(const stack *st, int l, int d, float *out);

/* Pointers to the parameters (or gradients, with g = 1) of layer l, dir d. */
float *stack_w_ih(const stack *st, int l, int d, int g);
float *stack_w_hh(const stack *st, int l, int d, int g);
float *stack_b_ih(const stack *st, int l, int d, int g);
float *stack_b_hh(const stack *st, int l, int d, int g);

typedef struct stack_ws stack_ws;

/* A workspace for up to N rows and B sequences; train != 0 also keeps what
 * backward needs. */
recur_status stack_ws_create(const stack *st, int N, int B, int train,
                             stack_ws **out, recur_error *err);
/* Grow ws when a batch needs more rows or sequences (never in the loop). */
recur_status stack_ws_reserve(const stack *st, stack_ws *ws, int N, int B,
                              recur_error *err);
void stack_ws_free(stack_ws *ws);
/* Threads for forward and backward (the pool is not owned; NULL: none). */
struct pool;
recur_status stack_ws_set_pool(stack_ws *ws, struct pool *p, recur_error *err);
/* Promise that the weights will not change while ws lives (inference):
 * the recurrent weights are then packed once, not at every forward. */
void stack_ws_fix_weights(stack_ws *ws);
/* A flag that forward and backward look at between time steps and between
 * chunks of their large products: once it is set they return early with
 * meaningless results (the caller discards the pass: stack_ws_stopped).
 * NULL (the default): never. It changes no result while it stays 0. */
void stack_ws_set_stop(stack_ws *ws, const volatile sig_atomic_t *stop);
int stack_ws_stopped(const stack_ws *ws);
/* The weights changed after all (recur_model_weights_changed): the next
 * forward packs them again. */
void stack_ws_weights_changed(stack_ws *ws);
/* Layer 0's input projections of direction d, [N][G*H]: filled by the
 * caller when it runs stack_forward with x == NULL (with the bias of
 * stack_input_bias included). */
float *stack_ws_xg0(stack_ws *ws, int d);
/* After a backward: gradient of layer 0's pre-activations, direction d,
 * [N][G*H] (what the caller folds into W_ih and b_ih when x was NULL). */
const float *stack_ws_dxg0(const stack_ws *ws, int d);
/* After a backward: dLoss/dh_t of the last layer, packed [N][D*H]. */
const float *stack_ws_state_grads(const stack_ws *ws);
/* The reduced-precision kernels chosen with the workspace (nn/quant.h). */
const struct qkernels *stack_ws_qkernels(const stack_ws *ws);
/* Output of the last layer after a forward: packed [N][D*H]. */
const float *stack_ws_output(const stack_ws *ws);

/* C[M][N] = op(A) op(B) (+ C when accumulate) through the hand-written
 * kernels, split over the workspace's threads: for the engine's products
 * outside the stack (the model's input tables). */
void stack_gemm(stack_ws *ws, int ta, int tb, int M, int N, int K, const float *A, int lda,
                const float *B, int ldb, int accumulate, float *C, int ldc);

/*
 * Forward over packed sequences. x: packed [N][I], or NULL when layer 0's
 * projections are already in stack_ws_xg0. h0, c0: [L*D][B][H] in packed
 * (sorted) order, NULL for zeros. hn, cn: same shape out, may be NULL.
 * Training (train != 0) applies dropout with rng and keeps activations.
 */
void stack_forward(const stack *st, stack_ws *ws, const pack *p, const float *x,
                   const float *h0, const float *c0, float *hn, float *cn,
                   int train, recur_rng *rng);
/*
 * Backward after a training forward. dy: packed [N][D*H] or NULL; dhn, dcn:
 * [L*D][B][H] or NULL. Gradients are added to st->g (layer 0's W_ih, b_ih
 * only when forward had x). dx packed [N][I], dh0, dc0: written if not NULL.
 */
void stack_backward(const stack *st, stack_ws *ws, const pack *p,
                    const float *x, const float *dy, const float *dhn,
                    const float *dcn, float *dx, float *dh0, float *dc0);

#endif
