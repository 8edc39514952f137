/*
 * recur_rnn: the public dense-input stack (PyTorch's nn.RNN / nn.LSTM /
 * nn.GRU). Converts padded time-major tensors to the packed layout of the
 * engine and back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/pool.h"
#include "nn/pack.h"
#include "nn/stack.h"

struct recur_rnn {
    recur_rnn_config cfg;
    stack st;
    float *w, *g;
    int n_tensors;
    char (*names)[32];
    stack_ws *ws; /* training workspace, planned on first use */
    pool *pool;   /* cfg.threads > 1 */
    pack pk;
    recur_rng rng;
    int have_tape;   /* a training forward is waiting for its backward */
    int have_grads;  /* a backward ran: state gradients are available   */
    int T, B;        /* shape of that forward */
    float *px, *pbuf; /* packed input, scratch */
    size_t px_cap, pbuf_cap;
    float *state;     /* [4][L*D][B][H] scratch for reordered states */
    size_t state_cap;
};

recur_status recur_rnn_create(const recur_rnn_config *cfg, recur_rnn **out, recur_error *err)
{
    *out = NULL;
    recur_rnn *r = calloc(1, sizeof *r);
    if (!r) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    r->cfg = *cfg;
    recur_status s = stack_init(&r->st, cfg->cell, cfg->input_size, cfg->hidden, cfg->layers,
                                cfg->bidirectional ? 2 : 1, cfg->dropout, err);
    if (s) {
        free(r);
        return s;
    }
    size_t n = stack_num_weights(&r->st);
    r->n_tensors = 4 * r->st.L * r->st.D;
    r->w = calloc(n, sizeof(float));
    r->g = calloc(n, sizeof(float));
    r->names = calloc((size_t)r->n_tensors, sizeof *r->names);
    if (!r->w || !r->g || !r->names) {
        recur_rnn_free(r);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for %zu weights", n);
    }
    r->st.w = r->w;
    r->st.g = r->g;
    if (cfg->threads > 1) {
        s = pool_create(cfg->threads, &r->pool, err);
        if (s) {
            recur_rnn_free(r);
            return s;
        }
    }
    recur_rng_seed(&r->rng, cfg->seed);
    stack_init_weights(&r->st, &r->rng);
    *out = r;
    return RECUR_OK;
}

void recur_rnn_free(recur_rnn *r)
{
    if (!r) return;
    stack_ws_free(r->ws);
    pool_free(r->pool);
    pack_free(&r->pk);
    free(r->w);
    free(r->g);
    free(r->names);
    free(r->px);
    free(r->pbuf);
    free(r->state);
    free(r);
}

int recur_rnn_param_count(const recur_rnn *r) { return r->n_tensors; }

recur_param recur_rnn_param(const recur_rnn *r, int i)
{
    recur_param p = {0};
    if (i < 0 || i >= r->n_tensors) return p;
    size_t off;
    stack_tensor(&r->st, i, r->names[i], sizeof r->names[i], &p.ndim, p.shape, &off);
    p.name = r->names[i];
    p.data = r->w + off;
    p.grad = r->g + off;
    return p;
}

void recur_rnn_zero_grad(recur_rnn *r) { memset(r->g, 0, stack_num_weights(&r->st) * sizeof(float)); }

static int ensure(float **p, size_t *cap, size_t n)
{
    if (n <= *cap) return 0;
    float *q = realloc(*p, n * sizeof(float));
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Padded [T][B][C] (caller's order) <-> packed [N][C] (sorted order). */
static void pack_rows(const pack *p, const float *padded, int C, float *packed)
{
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(packed + (size_t)pack_row(p, t, j) * C,
                   padded + ((size_t)t * p->B + p->order[j]) * C, (size_t)C * sizeof(float));
}

/* Every sequence of the caller's full length T: the packed rows are then
 * the padded ones in the same order, so the copies between them can go (on
 * an RNN-128 forward they were an eighth of the time). */
static int identity_pack(const pack *p, int T)
{
    if (p->T != T || p->N != T * p->B) return 0;
    for (int j = 0; j < p->B; j++)
        if (p->order[j] != j) return 0;
    return 1;
}

/* padded is [T][B][C] for the caller's T, which may exceed the longest
 * length p->T: every row past a sequence's end, including the steps no
 * sequence reaches, is written with zeros. */
static void unpack_rows(const pack *p, int T, const float *packed, int C, float *padded)
{
    if (identity_pack(p, T)) {
        memcpy(padded, packed, (size_t)p->N * C * sizeof(float));
        return;
    }
    memset(padded, 0, (size_t)T * p->B * C * sizeof(float));
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++)
            memcpy(padded + ((size_t)t * p->B + p->order[j]) * C,
                   packed + (size_t)pack_row(p, t, j) * C, (size_t)C * sizeof(float));
}

/* States [LD][B][H]: caller's order <-> sorted order. */
static void states_to_sorted(const pack *p, int LD, int H, const float *in, float *out)
{
    for (int k = 0; k < LD; k++)
        for (int j = 0; j < p->B; j++)
            memcpy(out + ((size_t)k * p->B + j) * H, in + ((size_t)k * p->B + p->order[j]) * H,
                   (size_t)H * sizeof(float));
}

static void states_from_sorted(const pack *p, int LD, int H, const float *in, float *out)
{
    for (int k = 0; k < LD; k++)
        for (int j = 0; j < p->B; j++)
            memcpy(out + ((size_t)k * p->B + p->order[j]) * H, in + ((size_t)k * p->B + j) * H,
                   (size_t)H * sizeof(float));
}

recur_status recur_rnn_forward(recur_rnn *r, int T, int B, const float *x,
                               const int32_t *lengths, const float *h0,
                               const float *c0, float *y, float *hn, float *cn,
                               int train, recur_error *err)
{
    r->have_tape = 0;
    r->have_grads = 0;
    if (T < 1 || B < 1 || !x)
        return recur_fail(err, RECUR_ERR_ARG, "forward needs T >= 1, B >= 1 and an input (T=%d, B=%d)", T, B);
    if ((size_t)T * B > (size_t)1 << 28)
        return recur_fail(err, RECUR_ERR_ARG, "batch of %d x %d steps is too large", T, B);
    int32_t *full = NULL;
    if (!lengths) {
        full = malloc((size_t)B * sizeof *full);
        if (!full) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        for (int i = 0; i < B; i++) full[i] = T;
        lengths = full;
    }
    for (int i = 0; i < B; i++)
        if (lengths[i] > T) {
            free(full);
            return recur_fail(err, RECUR_ERR_ARG, "sequence %d has length %d > T = %d", i, (int)lengths[i], T);
        }
    recur_status s = pack_build(&r->pk, B, lengths, err);
    free(full);
    if (s) return s;
    const stack *st = &r->st;
    const pack *p = &r->pk;
    int LD = st->L * st->D, H = st->H, DH = st->D * H;
    size_t S = (size_t)LD * B * H;
    if (ensure(&r->px, &r->px_cap, (size_t)p->N * st->I) || ensure(&r->state, &r->state_cap, 4 * S))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    if (!r->ws) {
        s = stack_ws_create(st, p->N, B, 1, &r->ws, err);
        if (!s) s = stack_ws_set_pool(r->ws, r->pool, err);
    } else {
        s = stack_ws_reserve(st, r->ws, p->N, B, err);
    }
    if (s) return s;
    /* Inference reads a full-length batch where it lies; training keeps its
     * own copy, which backward reads after the caller's x may be gone. */
    const float *px = x;
    if (train || !identity_pack(p, T)) pack_rows(p, x, st->I, (float *)(px = r->px));
    float *sh0 = NULL, *sc0 = NULL, *shn = r->state + 2 * S, *scn = r->state + 3 * S;
    if (h0) states_to_sorted(p, LD, H, h0, sh0 = r->state);
    if (c0 && st->cell == RECUR_CELL_LSTM) states_to_sorted(p, LD, H, c0, sc0 = r->state + S);
    stack_forward(st, r->ws, p, px, sh0, sc0, shn, scn, train, &r->rng);
    if (y) unpack_rows(p, T, stack_ws_output(r->ws), DH, y);
    if (hn) states_from_sorted(p, LD, H, shn, hn);
    if (cn && st->cell == RECUR_CELL_LSTM) states_from_sorted(p, LD, H, scn, cn);
    r->have_tape = train != 0;
    r->T = T;
    r->B = B;
    return RECUR_OK;
}

recur_status recur_rnn_backward(recur_rnn *r, const float *dy, const float *dhn,
                                const float *dcn, float *dx, float *dh0, float *dc0,
                                recur_error *err)
{
    if (!r->have_tape)
        return recur_fail(err, RECUR_ERR_ARG, "backward needs a training forward first");
    const stack *st = &r->st;
    const pack *p = &r->pk;
    int LD = st->L * st->D, H = st->H, DH = st->D * H, B = p->B;
    size_t S = (size_t)LD * B * H;
    size_t need = (size_t)p->N * (size_t)(DH > st->I ? DH : st->I);
    if (ensure(&r->pbuf, &r->pbuf_cap, 2 * need))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    const int same = identity_pack(p, r->T);
    const float *pdy = NULL;
    float *pdx = dx ? (same ? dx : r->pbuf + need) : NULL;
    if (dy && same) pdy = dy;
    else if (dy) pack_rows(p, dy, DH, (float *)(pdy = r->pbuf));
    /* state scratch: [0] dhn, [1] dcn, [2] dh0, [3] dc0 (sorted order) */
    float *sdhn = NULL, *sdcn = NULL;
    if (dhn) states_to_sorted(p, LD, H, dhn, sdhn = r->state);
    if (dcn && st->cell == RECUR_CELL_LSTM) states_to_sorted(p, LD, H, dcn, sdcn = r->state + S);
    float *sdh0 = r->state + 2 * S, *sdc0 = r->state + 3 * S;
    stack_backward(st, r->ws, p, r->px, pdy, sdhn, sdcn, pdx, sdh0, sdc0);
    if (dx && !same) {
        /* Rows past a sequence's end get zero gradient. */
        float *tmp = r->pbuf; /* dy no longer needed */
        memcpy(tmp, pdx, (size_t)p->N * st->I * sizeof(float));
        memset(dx, 0, (size_t)r->T * B * st->I * sizeof(float));
        for (int t = 0; t < p->T; t++)
            for (int j = 0; j < p->bs[t]; j++)
                memcpy(dx + ((size_t)t * B + p->order[j]) * st->I,
                       tmp + (size_t)pack_row(p, t, j) * st->I, (size_t)st->I * sizeof(float));
    }
    if (dh0) states_from_sorted(p, LD, H, sdh0, dh0);
    if (dc0 && st->cell == RECUR_CELL_LSTM) states_from_sorted(p, LD, H, sdc0, dc0);
    r->have_tape = 0;
    r->have_grads = 1;
    return RECUR_OK;
}

recur_status recur_rnn_state_grads(const recur_rnn *r, float *dh, recur_error *err)
{
    if (!r->have_grads) return recur_fail(err, RECUR_ERR_ARG, "state gradients need a backward first");
    unpack_rows(&r->pk, r->T, stack_ws_state_grads(r->ws), r->st.D * r->st.H, dh);
    return RECUR_OK;
}
