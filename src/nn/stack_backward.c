/* The stack's backward through time (stack.h, stack_backward). */
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/pool.h"
#include "nn/cell.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/quant.h"
#include "nn/stack_ws.h"

/* ------------------------------------------------------------------------ */
/* Backward                                                                  */
/* ------------------------------------------------------------------------ */

/* BPTT through rows j0..j1-1 of one direction: dY (stride DH) is the
 * gradient of this layer's output; fills w->dA (and w->dGh) and the state
 * gradients. */
static void direction_backward_rows(const dir_job *job, int j0, int j1)
{
    const stack *st = job->st;
    stack_ws *ws = job->ws;
    const pack *p = job->p;
    const int l = job->l, d = job->d;
    const int H = st->H, GH = st->G * st->H, DH = st->D * st->H;
    dir_ws *w = &ws->dir[l * st->D + d];
    const kernels *kn = ws->kn;
    const float *dY = job->dY;
    float *dS = ws->dS + (size_t)j0 * H, *dC = ws->dC + (size_t)j0 * H, *dh_rows = ws->dh + (size_t)j0 * H;
    int lstm = st->cell == RECUR_CELL_LSTM;
    /* The last layer of a single direction keeps dh_t for
     * stack_ws_state_grads as [N][H]: rows the step's dh can be made in
     * directly, instead of being copied there at every step. */
    const int direct = l == st->L - 1 && st->D == 1;
    stack_state_rows(ws->dS, job->dhn, j0, j1, H);
    if (lstm) stack_state_rows(ws->dC, job->dcn, j0, j1, H);
    for (int s = p->T - 1; s >= 0; s--) {
        int t = d == 0 ? s : p->T - 1 - s;
        int b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stack_stopped(ws)) return; /* the caller discards this pass */
        size_t row = (size_t)p->off[t] + j0;
        float *dh = direct ? ws->dHt + row * DH : dh_rows;
        for (int r = 0; r < b; r++) {
            const float *dyr = dY ? dY + (row + r) * DH + (size_t)d * H : NULL;
            float *o = dh + (size_t)r * H;
            const float *in = dS + (size_t)r * H;
            if (dyr) for (int j = 0; j < H; j++) o[j] = in[j] + dyr[j];
            else memcpy(o, in, (size_t)H * sizeof *o);
        }
        if (l == st->L - 1 && !direct)
            for (int r = 0; r < b; r++)
                memcpy(ws->dHt + (row + r) * DH + (size_t)d * H, dh + (size_t)r * H, (size_t)H * sizeof *dh);
        float *dA = w->dA + row * GH;
        const float *A = w->A + row * GH;
        const float *dGh = dA;
        int accumulate = 0;
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_backward(b, H, st->cell == RECUR_CELL_RNN_RELU, dh,
                              ws->Y[l] + row * DH + (size_t)d * H, DH, dA);
            break;
        case RECUR_CELL_LSTM:
            lstm_cell_backward(kn, b, H, dh, dC, A, w->C + row * H, w->Cp + row * H, dA);
            break;
        case RECUR_CELL_GRU:
            gru_cell_backward(kn, b, H, dh, A, w->HNL + row * H, w->Hp + row * H, dA,
                              w->dGh + row * GH, dS);
            dGh = w->dGh + row * GH;
            accumulate = 1;
            break;
        }
        kn->gemm_packed(b, H, GH, dGh, GH, w->Whh, dS, H, accumulate);
    }
    size_t off = (size_t)j0 * H, n = (size_t)(j1 - j0) * H * sizeof(float);
    if (job->dh0) memcpy(job->dh0 + off, ws->dS + off, n);
    if (job->dc0 && lstm) memcpy(job->dc0 + off, ws->dC + off, n);
}

static void direction_backward_share(void *arg, int tid, int nt)
{
    const dir_job *job = arg;
    (void)nt;
    direction_backward_rows(job, job->bounds[tid], job->bounds[tid + 1]);
}


/* b_ih_grad: where the same column sums go too, or NULL (the RNN's and the
 * LSTM's bias gradients are equal; the GRU's are not). */
static void direction_backward(const stack *st, stack_ws *ws, const pack *p, int l, int d,
                               const float *dY, const float *dhn, const float *dcn,
                               float *dh0, float *dc0, float *b_ih_grad)
{
    const int H = st->H, GH = st->G * st->H;
    dir_ws *w = &ws->dir[l * st->D + d];
    stack_pack_weights(ws, 0, ws->kn->nr, H, GH, stack_w_hh(st, l, d, 0), H, w->Whh);
    dir_job job = {st, ws, p, l, d, 1, NULL, NULL, NULL, NULL, dY, dhn, dcn, NULL, NULL, dh0, dc0, {0}, NULL};
    int nt = stack_shares(ws, p);
    stack_split_sequences(p, nt, job.bounds);
    if (nt > 1) pool_run_n(ws->pool, nt, direction_backward_share, &job);
    else direction_backward_rows(&job, 0, p->B);
    /* Parameter gradients of the recurrent side: one product over all rows. */
    const float *dGh_all = st->cell == RECUR_CELL_GRU ? w->dGh : w->dA;
    stack_wgrad(ws, GH, H, p->N, dGh_all, GH, w->Hp, H, stack_w_hh(st, l, d, 1), H, stack_b_hh(st, l, d, 1), b_ih_grad);
}

void stack_backward(const stack *st, stack_ws *ws, const pack *p,
                    const float *x, const float *dy, const float *dhn,
                    const float *dcn, float *dx, float *dh0, float *dc0)
{
    const int N = p->N, GH = st->G * st->H, DH = st->D * st->H;
    const size_t state = (size_t)p->B * st->H;
    const float *dY = dy;
    for (int l = st->L - 1; l >= 0; l--) {
        int I = stack_layer_input(st, l);
        const float *X = l == 0 ? x : (ws->Xd[l] && st->dropout > 0.0f ? ws->Xd[l] : ws->Y[l - 1]);
        /* One pass of column sums serves both biases where they are equal. */
        const int shared_sums = X && st->cell != RECUR_CELL_GRU;
        for (int d = 0; d < st->D; d++) {
            size_t k = (size_t)(l * st->D + d) * state;
            direction_backward(st, ws, p, l, d, dY, dhn ? dhn + k : NULL, dcn ? dcn + k : NULL,
                               dh0 ? dh0 + k : NULL, dc0 ? dc0 + k : NULL,
                               shared_sums ? stack_b_ih(st, l, d, 1) : NULL);
        }
        /* Input side: dW_ih, db_ih and the gradient of the layer's input. */
        float *dX = l == 0 ? dx : ws->dX;
        for (int d = 0; d < st->D; d++) {
            const float *dA = ws->dir[l * st->D + d].dA;
            if (X) {
                if (shared_sums) stack_gemm(ws, 1, 0, GH, I, N, dA, GH, X, I, 1, stack_w_ih(st, l, d, 1), I);
                else stack_wgrad(ws, GH, I, N, dA, GH, X, I, stack_w_ih(st, l, d, 1), I, stack_b_ih(st, l, d, 1), NULL);
            }
            if (dX)
                stack_gemm(ws, 0, 0, N, I, GH, dA, GH, stack_w_ih(st, l, d, 0), I, d, dX, I);
        }
        if (l > 0) {
            /* The next layer down sees dX through the dropout mask. */
            if (ws->mask[l] && st->dropout > 0.0f)
                for (size_t i = 0; i < (size_t)N * DH; i++) ws->dX[i] *= ws->mask[l][i];
            memcpy(ws->dY, ws->dX, (size_t)N * DH * sizeof(float));
            dY = ws->dY;
        }
    }
}

