/*
 * recur_runner: inference on a read-only model. Each runner owns its
 * workspace, so any number of threads can share one model, each with its
 * own runner. The layer-0 lookup tables are computed once at creation, so
 * a runner sees the weights as they were then.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/pass.h"
#include "nn/cell.h"
#include "nn/gemm.h"
#include "nn/linear.h"
#include "model/quant_model.h"

struct recur_runner {
    const recur_model *m;
    const kernels *kn;
    const qkernels *qk; /* for a quantized model's step products */
    int max_batch;
    pass ps;
    int32_t *ids, *offsets; /* encoded texts                        */
    int32_t *group;         /* offsets of one group, from 0 (classify) */
    size_t ids_cap;
    /* Step API state: one row per layer. */
    int label, started;
    float *h, *c;   /* [L][H]                      */
    float *xg, *hg; /* [G*H]                       */
    float *logits;  /* [C]                         */
};

recur_status recur_runner_create(const recur_model *m, int max_batch, recur_runner **out,
                                 recur_error *err)
{
    *out = NULL;
    if (!m) return recur_fail(err, RECUR_ERR_ARG, "runner needs a model");
    if (max_batch < 1 || max_batch > 1 << 20)
        return recur_fail(err, RECUR_ERR_ARG, "max_batch %d out of range 1..%d", max_batch, 1 << 20);
    recur_runner *r = calloc(1, sizeof *r);
    if (!r) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    r->m = m;
    r->kn = kernels_get();
    r->qk = qkernels_get();
    r->max_batch = max_batch;
    recur_status s = pass_init(&r->ps, m, 0, err);
    if (s) {
        free(r);
        return s;
    }
    size_t LH = (size_t)m->st.L * m->st.H, GH = (size_t)m->st.G * m->st.H;
    r->offsets = malloc(((size_t)max_batch + 1) * sizeof *r->offsets);
    r->group = malloc(((size_t)max_batch + 1) * sizeof *r->group);
    r->h = calloc(LH, sizeof(float));
    r->c = calloc(LH, sizeof(float));
    r->xg = malloc(GH * sizeof(float));
    r->hg = malloc(GH * sizeof(float));
    r->logits = malloc((size_t)m->C * sizeof(float));
    if (!r->offsets || !r->group || !r->h || !r->c || !r->xg || !r->hg || !r->logits) {
        recur_runner_free(r);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    for (int d = 0; d < m->st.D; d++) model_input_tables(m, NULL, d, r->ps.P_sym[d], r->ps.P_lab[d]);
    r->ps.tables_ready = 1;
    *out = r;
    return RECUR_OK;
}

void recur_runner_free(recur_runner *r)
{
    if (!r) return;
    pass_free(&r->ps);
    free(r->ids);
    free(r->offsets);
    free(r->group);
    free(r->h);
    free(r->c);
    free(r->xg);
    free(r->hg);
    free(r->logits);
    free(r);
}

/* The pass keeps every step's activations, so its workspace grows with the
 * symbols of a batch: texts go through it in groups of at most this many
 * symbols (a longer text alone), so that a batch of long texts does not ask
 * for gigabytes at once. Names (256 of ~7 symbols) make one group. */
#define GROUP_SYMBOLS 8192

recur_status recur_runner_classify_ids(recur_runner *r, const int32_t *tokens,
                                       const int32_t *offsets, int n, float *logprobs,
                                       recur_error *err)
{
    const recur_model *m = r->m;
    if (m->cfg.task != RECUR_TASK_CLASSIFY)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model generates text; it does not classify");
    if (n < 1 || n > r->max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "%d texts for a runner of max_batch %d", n, r->max_batch);
    if (!tokens || !offsets) return recur_fail(err, RECUR_ERR_ARG, "no tokens or offsets");
    if (offsets[0] != 0) return recur_fail(err, RECUR_ERR_ARG, "batch offsets must start at 0");
    /* Each group's check (lengths >= 1) proves that the next group's
     * offsets start from a valid position. */
    for (int s = 0, k; s < n; s += k) {
        for (k = 1; s + k < n && (int64_t)offsets[s + k + 1] - offsets[s] <= GROUP_SYMBOLS; k++) {}
        for (int j = 0; j <= k; j++) r->group[j] = offsets[s + j] - offsets[s];
        recur_batch b = {.n = k, .tokens = tokens + offsets[s], .offsets = r->group, .labels = NULL};
        RECUR_TRY(pass_prepare(&r->ps, m, &b, err));
        pass_forward(&r->ps, m, NULL);
        /* Back to the caller's order. */
        const pack *p = &r->ps.pk;
        for (int j = 0; j < k; j++)
            memcpy(logprobs + (size_t)(s + p->order[j]) * m->C, r->ps.logp + (size_t)j * m->C,
                   (size_t)m->C * sizeof(float));
    }
    return RECUR_OK;
}

recur_status recur_runner_classify(recur_runner *r, const char *const *texts,
                                   const size_t *lens, int n, float *logprobs, recur_error *err)
{
    if (n < 1 || n > r->max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "%d texts for a runner of max_batch %d", n, r->max_batch);
    r->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *text = texts[i];
        size_t len = lens ? lens[i] : strlen(text);
        recur_text_trim(&text, &len); /* as the loader trims training lines */
        size_t used = (size_t)r->offsets[i], need = 0;
        /* A text never needs more ids than bytes (NFC can only shorten
         * what decomposition lengthens, and we reserve len + 8). */
        size_t want = used + len + 8;
        if (want > r->ids_cap) {
            size_t cap = want * 2;
            int32_t *q = realloc(r->ids, cap * sizeof *q);
            if (!q) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            r->ids = q;
            r->ids_cap = cap;
        }
        recur_status s = recur_vocab_encode(r->m->vocab, text, len, r->ids + used,
                                            r->ids_cap - used, &need, err);
        if (s == RECUR_ERR_ARG && need > r->ids_cap - used) {
            size_t cap = used + need + 8;
            int32_t *q = realloc(r->ids, cap * sizeof *q);
            if (!q) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            r->ids = q;
            r->ids_cap = cap;
            s = recur_vocab_encode(r->m->vocab, text, len, r->ids + used, r->ids_cap - used, &need, err);
        }
        if (s) return s;
        if (need == 0) return recur_fail(err, RECUR_ERR_ARG, "text %d is empty", i);
        if (need > (size_t)1 << 24) return recur_fail(err, RECUR_ERR_ARG, "text %d is too long (%zu symbols)", i, need);
        r->offsets[i + 1] = (int32_t)(used + need);
    }
    return recur_runner_classify_ids(r, r->ids, r->offsets, n, logprobs, err);
}

recur_status recur_runner_reset(recur_runner *r, int label, recur_error *err)
{
    const recur_model *m = r->m;
    if (m->st.D != 1)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a bidirectional model cannot be run step by step");
    if (m->cfg.task == RECUR_TASK_GENERATE && (label < 0 || label >= m->num_labels))
        return recur_fail(err, RECUR_ERR_ARG, "label %d out of range 0..%d", label, m->num_labels - 1);
    size_t LH = (size_t)m->st.L * m->st.H;
    memset(r->h, 0, LH * sizeof(float));
    memset(r->c, 0, LH * sizeof(float));
    r->label = m->cfg.task == RECUR_TASK_GENERATE ? label : -1;
    r->started = 1;
    return RECUR_OK;
}

recur_status recur_runner_step(recur_runner *r, int32_t token, float *logprobs, recur_error *err)
{
    const recur_model *m = r->m;
    const stack *st = &m->st;
    if (!r->started) return recur_fail(err, RECUR_ERR_ARG, "call recur_runner_reset before stepping");
    if (token < 0 || token >= m->V)
        return recur_fail(err, RECUR_ERR_ARG, "token %d is outside the vocabulary of %d", (int)token, m->V);
    const int H = st->H, GH = st->G * H, gru = st->cell == RECUR_CELL_GRU;
    for (int l = 0; l < st->L; l++) {
        float *h = r->h + (size_t)l * H, *c = r->c + (size_t)l * H;
        if (l == 0) {
            memcpy(r->xg, r->ps.P_sym[0] + (size_t)token * GH, (size_t)GH * sizeof(float));
            if (r->label >= 0 && r->ps.P_lab[0]) {
                const float *pl = r->ps.P_lab[0] + (size_t)r->label * GH;
                for (int g = 0; g < GH; g++) r->xg[g] += pl[g];
            }
        } else {
            stack_input_bias(st, l, 0, r->xg);
            if (st->q) quant_gemm(r->qk, 1, r->h + (size_t)(l - 1) * H, H, &st->q->wih[l], r->xg, GH, 1);
            else cblas_sgemv(CblasRowMajor, CblasNoTrans, GH, H, 1.0f, stack_w_ih(st, l, 0, 0), H,
                             r->h + (size_t)(l - 1) * H, 1, 1.0f, r->xg, 1);
        }
        /* h W_hh^T: added to the pre-activations, except the GRU's n rows. */
        int GA = gru ? 2 * H : GH;
        if (st->q) quant_gemm(r->qk, 1, h, H, &st->q->whh[l], r->xg, GH, 1);
        else cblas_sgemv(CblasRowMajor, CblasNoTrans, GA, H, 1.0f, stack_w_hh(st, l, 0, 0), H, h, 1, 1.0f,
                         r->xg, 1);
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_forward(r->kn, 1, H, st->cell == RECUR_CELL_RNN_RELU, r->xg, h, NULL, 0);
            break;
        case RECUR_CELL_LSTM: lstm_cell_forward(r->kn, 1, H, r->xg, c, NULL, h, NULL, 0); break;
        case RECUR_CELL_GRU:
            if (st->q) quant_gemm(r->qk, 1, h, H, &st->q->whhn[l], r->hg, H, 0);
            else cblas_sgemv(CblasRowMajor, CblasNoTrans, H, H, 1.0f, stack_w_hh(st, l, 0, 0) + (size_t)GA * H,
                             H, h, 1, 0.0f, r->hg, 1);
            gru_cell_forward(r->kn, 1, H, r->xg, r->hg, stack_b_hh(st, l, 0, 0) + 2 * H, h, NULL, NULL, 0);
            break;
        }
    }
    if (logprobs) {
        const float *top = r->h + (size_t)(st->L - 1) * H;
        if (m->q) qmodel_head(m, r->qk, 1, top, H, logprobs);
        else linear_forward(1, H, m->C, top, H, m->out_w, m->out_b, logprobs);
        log_softmax_rows(logprobs, 1, m->C);
    }
    return RECUR_OK;
}
