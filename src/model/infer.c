/*
 * recur_runner: inference on a read-only model. Each runner owns its
 * workspace, so any number of threads can share one model, each with its
 * own runner. The layer-0 lookup tables are computed once at creation, so
 * a runner sees the weights as they were then.
 */
#include <math.h>
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
    float *x;       /* [F] a standardised feature vector (dense input) */
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
    r->x = malloc((size_t)(m->F ? m->F : 1) * sizeof(float));
    if (!r->offsets || !r->group || !r->h || !r->c || !r->xg || !r->hg || !r->logits || !r->x) {
        recur_runner_free(r);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    for (int d = 0; d < m->st.D && !model_dense(m); d++) model_input_tables(m, NULL, d, r->ps.P_sym[d], r->ps.P_lab[d]);
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
    free(r->x);
    free(r);
}

/* The pass keeps every step's activations, so its workspace grows with the
 * symbols of a batch: texts go through it in groups of at most this many
 * symbols (a longer text alone), so that a batch of long texts does not ask
 * for gigabytes at once. Names (256 of ~7 symbols) make one group. */
#define GROUP_SYMBOLS 8192

size_t recur_runner_rows(const recur_runner *r, const recur_batch *b)
{
    if (!r || !b || b->n < 1 || !b->offsets) return 0;
    if (!model_steps(r->m)) return (size_t)b->n;
    return (size_t)b->offsets[b->n] + (model_gen(r->m) ? (size_t)b->n : 0);
}

recur_status recur_runner_predict(recur_runner *r, const recur_batch *b, float *out, recur_error *err)
{
    const recur_model *m = r->m;
    if (!b || !out) return recur_fail(err, RECUR_ERR_ARG, "predict needs a batch and an output");
    const int n = b->n;
    if (n < 1 || n > r->max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "%d sequences for a runner of max_batch %d", n, r->max_batch);
    if (!b->offsets) return recur_fail(err, RECUR_ERR_ARG, "no offsets");
    if (b->offsets[0] != 0) return recur_fail(err, RECUR_ERR_ARG, "batch offsets must start at 0");
    const size_t C = (size_t)m->C, F = (size_t)m->F;
    const int gen = model_gen(m);
    /* Each group's check (lengths >= 1) proves that the next group's
     * offsets start from a valid position. */
    for (int s = 0, k; s < n; s += k) {
        const int32_t *offsets = b->offsets;
        for (k = 1; s + k < n && (int64_t)offsets[s + k + 1] - offsets[s] <= GROUP_SYMBOLS; k++) {}
        for (int j = 0; j <= k; j++) r->group[j] = offsets[s + j] - offsets[s];
        size_t k0 = (size_t)offsets[s];
        recur_batch g = {.n = k, .offsets = r->group};
        g.tokens = b->tokens ? b->tokens + k0 : NULL;
        g.features = b->features ? b->features + k0 * F : NULL;
        g.labels = b->labels ? b->labels + s : NULL;
        RECUR_TRY(pass_prepare(&r->ps, m, &g, err));
        pass_forward(&r->ps, m, NULL);
        /* Back to the caller's order: the group's rows start at row0. */
        size_t row0 = model_steps(m) ? k0 + (gen ? (size_t)s : 0) : (size_t)s;
        for (int j = 0; j < r->ps.rows; j++)
            memcpy(out + (row0 + (size_t)r->ps.dest[j]) * C, r->ps.logp + (size_t)j * C, C * sizeof(float));
    }
    return RECUR_OK;
}

recur_status recur_runner_classify_ids(recur_runner *r, const int32_t *tokens,
                                       const int32_t *offsets, int n, float *logprobs,
                                       recur_error *err)
{
    const recur_model *m = r->m;
    if (model_gen(m))
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model generates text; it does not classify");
    if (model_steps(m) || model_dense(m))
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this %s model gives %s; use recur_runner_predict",
                          recur_task_name(m->cfg.task), model_dense(m) ? "reads features, not text" : "a row per step");
    if (!tokens || !offsets) return recur_fail(err, RECUR_ERR_ARG, "no tokens or offsets");
    recur_batch b = {.n = n, .tokens = tokens, .offsets = offsets};
    return recur_runner_predict(r, &b, logprobs, err);
}

/* Encode n texts into r->ids and r->offsets. */
static recur_status encode_texts(recur_runner *r, const char *const *texts, const size_t *lens, int n,
                                 recur_error *err)
{
    if (n < 1 || n > r->max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "%d texts for a runner of max_batch %d", n, r->max_batch);
    if (!r->m->vocab) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model reads features, not text");
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
    return RECUR_OK;
}

recur_status recur_runner_classify(recur_runner *r, const char *const *texts,
                                   const size_t *lens, int n, float *logprobs, recur_error *err)
{
    RECUR_TRY(encode_texts(r, texts, lens, n, err));
    return recur_runner_classify_ids(r, r->ids, r->offsets, n, logprobs, err);
}

recur_status recur_runner_predict_texts(recur_runner *r, const char *const *texts, const size_t *lens, int n,
                                        float *out, size_t cap_rows, int32_t *offsets, recur_error *err)
{
    if (!texts || !out || !offsets) return recur_fail(err, RECUR_ERR_ARG, "predict needs texts, an output and offsets");
    RECUR_TRY(encode_texts(r, texts, lens, n, err));
    recur_batch b = {.n = n, .tokens = r->ids, .offsets = r->offsets};
    for (int i = 0; i <= n; i++)
        offsets[i] = model_steps(r->m) ? r->offsets[i] + (model_gen(r->m) ? i : 0) : i;
    if ((size_t)offsets[n] > cap_rows)
        return recur_fail(err, RECUR_ERR_ARG, "the texts need %d rows of output, more than the %zu given", (int)offsets[n],
                          cap_rows);
    if (model_gen(r->m)) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a generator needs labels: use recur_runner_predict");
    return recur_runner_predict(r, &b, out, err);
}

recur_status recur_runner_reset(recur_runner *r, int label, recur_error *err)
{
    const recur_model *m = r->m;
    if (m->st.D != 1)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a bidirectional model cannot be run step by step");
    if (model_gen(m) && (label < 0 || label >= m->num_labels))
        return recur_fail(err, RECUR_ERR_ARG, "label %d out of range 0..%d", label, m->num_labels - 1);
    size_t LH = (size_t)m->st.L * m->st.H;
    memset(r->h, 0, LH * sizeof(float));
    memset(r->c, 0, LH * sizeof(float));
    r->label = model_gen(m) ? label : -1;
    r->started = 1;
    return RECUR_OK;
}

/* One step of every layer, layer 0's pre-activations already in r->xg;
 * then the head's output. */
static void step_layers(recur_runner *r, float *out)
{
    const recur_model *m = r->m;
    const stack *st = &m->st;
    const int H = st->H, GH = st->G * H, gru = st->cell == RECUR_CELL_GRU;
    for (int l = 0; l < st->L; l++) {
        float *h = r->h + (size_t)l * H, *c = r->c + (size_t)l * H;
        if (l > 0) {
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
    if (out) {
        const float *top = r->h + (size_t)(st->L - 1) * H;
        if (m->q) qmodel_head(m, r->qk, 1, top, H, out);
        else linear_forward(1, H, m->C, top, H, m->out_w, m->out_b, out);
        if (!model_real(m)) log_softmax_rows(out, 1, m->C);
    }
}

recur_status recur_runner_step(recur_runner *r, int32_t token, float *logprobs, recur_error *err)
{
    const recur_model *m = r->m;
    if (!r->started) return recur_fail(err, RECUR_ERR_ARG, "call recur_runner_reset before stepping");
    if (model_dense(m)) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model reads features: use recur_runner_step_features");
    if (token < 0 || token >= m->V)
        return recur_fail(err, RECUR_ERR_ARG, "token %d is outside the vocabulary of %d", (int)token, m->V);
    const int GH = m->st.G * m->st.H;
    pass_sync_weights(&r->ps, m);
    memcpy(r->xg, r->ps.P_sym[0] + (size_t)token * GH, (size_t)GH * sizeof(float));
    if (r->label >= 0 && r->ps.P_lab[0]) {
        const float *pl = r->ps.P_lab[0] + (size_t)r->label * GH;
        for (int g = 0; g < GH; g++) r->xg[g] += pl[g];
    }
    step_layers(r, logprobs);
    return RECUR_OK;
}

recur_status recur_runner_step_features(recur_runner *r, const float *x, float *out, recur_error *err)
{
    const recur_model *m = r->m;
    const stack *st = &m->st;
    if (!r->started) return recur_fail(err, RECUR_ERR_ARG, "call recur_runner_reset before stepping");
    if (!model_dense(m)) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model reads tokens: use recur_runner_step");
    if (!x) return recur_fail(err, RECUR_ERR_ARG, "no feature vector");
    for (int f = 0; f < m->F; f++) {
        if (!isfinite(x[f])) return recur_fail(err, RECUR_ERR_ARG, "feature %d is %g", f, (double)x[f]);
        r->x[f] = (x[f] - m->norm_mean[f]) / m->norm_std[f];
    }
    const int GH = st->G * st->H;
    stack_input_bias(st, 0, 0, r->xg);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, GH, m->F, 1.0f, stack_w_ih(st, 0, 0, 0), m->F, r->x, 1, 1.0f, r->xg, 1);
    step_layers(r, out);
    return RECUR_OK;
}

const recur_model *recur_runner_model(const recur_runner *r) { return r ? r->m : NULL; }
