/*
 * recur_model_inspect: one text through the model one step at a time,
 * keeping what the cells compute (gates, cell state, hidden state) at every
 * step of every layer and direction, and the output after each step. It
 * repeats the runner's step math (src/model/infer.c) rather than calling
 * it, because the step API returns only the output; the tests hold the two
 * to the same numbers. Its own file: inference proper stays in infer.c.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "nn/cell.h"
#include "nn/gemm.h"
#include "nn/linear.h"

void recur_inspection_free(recur_inspection *x)
{
    if (!x) return;
    free(x->tokens);
    free(x->values);
    free(x->logprobs);
    free(x);
}

/* The series a cell shows and where each sits in the activations. */
static int cell_series(recur_cell cell, const char **names)
{
    switch (cell) {
    case RECUR_CELL_LSTM:
        names[0] = "input", names[1] = "forget", names[2] = "output", names[3] = "cell", names[4] = "hidden";
        return 5;
    case RECUR_CELL_GRU: names[0] = "reset", names[1] = "update", names[2] = "hidden"; return 3;
    default: names[0] = "hidden"; return 1;
    }
}

/* One layer, one direction over T steps: in [T][in_w] is the layer's input
 * (NULL for layer 0: the lookup tables), out [T][D*H] receives h in the
 * direction's column half; vals points at series 0 of this (l, d), the
 * series stride being sstride floats. */
static void run_direction(const recur_model *m, const kernels *kn, int l, int d, int T, const int32_t *tok,
                          int label, const float *P_sym, const float *P_lab, const float *in, float *out,
                          float *vals, size_t sstride, float *xg, float *hg, float *h, float *c)
{
    const stack *st = &m->st;
    const int H = st->H, GH = st->G * H, D = st->D, in_w = D * H, gru = st->cell == RECUR_CELL_GRU;
    memset(h, 0, (size_t)H * sizeof *h);
    memset(c, 0, (size_t)H * sizeof *c);
    for (int k = 0; k < T; k++) {
        int t = d ? T - 1 - k : k;
        if (l == 0) {
            memcpy(xg, P_sym + (size_t)tok[t] * GH, (size_t)GH * sizeof *xg);
            if (P_lab && label >= 0)
                for (int g = 0; g < GH; g++) xg[g] += P_lab[(size_t)label * GH + g];
        } else {
            stack_input_bias(st, l, d, xg);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, GH, in_w, 1.0f, stack_w_ih(st, l, d, 0), in_w,
                        in + (size_t)t * in_w, 1, 1.0f, xg, 1);
        }
        int GA = gru ? 2 * H : GH;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, GA, H, 1.0f, stack_w_hh(st, l, d, 0), H, h, 1, 1.0f, xg, 1);
        float *v = vals + (size_t)t * H;
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_forward(kn, 1, H, st->cell == RECUR_CELL_RNN_RELU, xg, h, NULL, 0);
            memcpy(v, h, (size_t)H * sizeof *v);
            break;
        case RECUR_CELL_LSTM:
            lstm_cell_forward(kn, 1, H, xg, c, NULL, h, NULL, 0);
            memcpy(v, xg, (size_t)H * sizeof *v);                          /* i */
            memcpy(v + sstride, xg + H, (size_t)H * sizeof *v);            /* f */
            memcpy(v + 2 * sstride, xg + 3 * (size_t)H, (size_t)H * sizeof *v); /* o */
            memcpy(v + 3 * sstride, c, (size_t)H * sizeof *v);
            memcpy(v + 4 * sstride, h, (size_t)H * sizeof *v);
            break;
        case RECUR_CELL_GRU:
            cblas_sgemv(CblasRowMajor, CblasNoTrans, H, H, 1.0f, stack_w_hh(st, l, d, 0) + (size_t)GA * H, H, h, 1,
                        0.0f, hg, 1);
            gru_cell_forward(kn, 1, H, xg, hg, stack_b_hh(st, l, d, 0) + 2 * H, h, NULL, NULL, 0);
            memcpy(v, xg, (size_t)H * sizeof *v);               /* r */
            memcpy(v + sstride, xg + H, (size_t)H * sizeof *v); /* z */
            memcpy(v + 2 * sstride, h, (size_t)H * sizeof *v);
            break;
        }
        memcpy(out + (size_t)t * in_w + (size_t)d * H, h, (size_t)H * sizeof *h);
    }
}

/* A bidirectional classifier on each prefix, through a runner. */
static recur_status prefix_logprobs(const recur_model *m, const int32_t *tok, int T, float *lp, recur_error *err)
{
    recur_runner *r = NULL;
    RECUR_TRY(recur_runner_create(m, T, &r, err));
    size_t total = (size_t)T * (T + 1) / 2;
    int32_t *ids = malloc(total * sizeof *ids), *off = malloc(((size_t)T + 1) * sizeof *off);
    recur_status s = RECUR_OK;
    if (!ids || !off) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    else {
        off[0] = 0;
        for (int t = 0; t < T; t++) {
            memcpy(ids + off[t], tok, ((size_t)t + 1) * sizeof *ids);
            off[t + 1] = off[t] + t + 1;
        }
        s = recur_runner_classify_ids(r, ids, off, T, lp, err);
    }
    free(ids);
    free(off);
    recur_runner_free(r);
    return s;
}

recur_status recur_model_inspect(const recur_model *m, const char *text, size_t len, int label,
                                 recur_inspection **out, recur_error *err)
{
    *out = NULL;
    if (!m || !text) return recur_fail(err, RECUR_ERR_ARG, "inspect needs a model and a text");
    if (len > RECUR_MAX_TEXT_BYTES)
        return recur_fail(err, RECUR_ERR_ARG, "a text of %zu bytes; inspect reads at most %d", len,
                          RECUR_MAX_TEXT_BYTES);
    if (m->q)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "inspect reads fp32 models; inspect the model from before 'recur quantize'");
    if ((m->cfg.task != RECUR_TASK_CLASSIFY && m->cfg.task != RECUR_TASK_GENERATE) ||
        m->cfg.input != RECUR_INPUT_TOKENS)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "inspect reads text models that classify or generate; not yet taggers, regressors or "
                          "dense-input models");
    const int gen = m->cfg.task == RECUR_TASK_GENERATE;
    if (gen && (label < 0 || label >= m->num_labels))
        return recur_fail(err, RECUR_ERR_ARG, "label %d out of range 0..%d", label, m->num_labels - 1);
    const stack *st = &m->st;
    const int H = st->H, L = st->L, D = st->D, GH = st->G * H;
    recur_inspection *x = calloc(1, sizeof *x);
    if (!x) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    size_t cap = len + 9, n = 0;
    x->tokens = malloc(cap * sizeof *x->tokens);
    if (!x->tokens) {
        recur_inspection_free(x);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    int lead = gen; /* a generator reads BOUNDARY first */
    x->tokens[0] = RECUR_TOKEN_BOUNDARY;
    recur_status s = recur_vocab_encode(m->vocab, text, len, x->tokens + lead, cap - 1, &n, err);
    if (!s && n + lead == 0) s = recur_fail(err, RECUR_ERR_ARG, "the text is empty");
    if (s) {
        recur_inspection_free(x);
        return s;
    }
    const int T = (int)n + lead;
    x->steps = T, x->layers = L, x->directions = D, x->hidden = H, x->outputs = m->C;
    x->n_series = cell_series(st->cell, x->series);
    size_t sstride = (size_t)L * D * T * H;
    x->values = calloc((size_t)x->n_series * sstride, sizeof *x->values);
    x->logprobs = malloc((size_t)T * m->C * sizeof *x->logprobs);
    float *P_sym = malloc((size_t)m->V * GH * sizeof *P_sym);
    float *P_lab = gen && m->num_labels ? malloc((size_t)m->num_labels * GH * sizeof *P_lab) : NULL;
    float *io[2] = {malloc((size_t)T * D * H * sizeof(float)), malloc((size_t)T * D * H * sizeof(float))};
    float *xg = malloc((size_t)GH * sizeof *xg), *hg = malloc((size_t)H * sizeof *hg);
    float *h = malloc((size_t)H * sizeof *h), *c = malloc((size_t)H * sizeof *c);
    if (!x->values || !x->logprobs || !P_sym || (gen && !P_lab) || !io[0] || !io[1] || !xg || !hg || !h || !c) {
        s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        goto done;
    }
    const kernels *kn = kernels_get();
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            if (l == 0) model_input_tables(m, NULL, d, P_sym, P_lab);
            run_direction(m, kn, l, d, T, x->tokens, gen ? label : -1, P_sym, P_lab, l ? io[(l - 1) & 1] : NULL,
                          io[l & 1], x->values + ((size_t)l * D + d) * T * H, sstride, xg, hg, h, c);
        }
    if (D == 1) {
        /* The head on the last layer's state at every step. */
        const float *top = io[(L - 1) & 1];
        linear_forward(T, H, m->C, top, H, m->out_w, m->out_b, x->logprobs);
        log_softmax_rows(x->logprobs, T, m->C);
    } else {
        s = prefix_logprobs(m, x->tokens, T, x->logprobs, err);
    }
done:
    free(P_sym);
    free(P_lab);
    free(io[0]);
    free(io[1]);
    free(xg);
    free(hg);
    free(h);
    free(c);
    if (s) recur_inspection_free(x);
    else *out = x;
    return s;
}
