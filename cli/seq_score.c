/*
 * Scores of a model on sequence data, per task, through the runner (the
 * library's recur_runner_predict) and the library's metrics: accuracy and
 * the confusion matrix (classify), per-step accuracy, exact match and per-
 * tag P/R/F1 (tag), MSE, MAE and R² (regress); a speech tagger's strings
 * too (frame labels smoothed, runs collapsed, silence dropped: string and
 * digit error rates, recur_string_metrics). train's closing test and recur
 * eval both use it.
 */
#include <stdlib.h>
#include <string.h>

#include "seq.h"
#include "speech.h"

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int seq_gather_batch(const recur_batch *d, int F, int O, int per_step, const size_t *idx, size_t n, seq_gather *g,
                     recur_batch *out)
{
    size_t steps = 0;
    for (size_t j = 0; j < n; j++) steps += (size_t)(d->offsets[idx[j] + 1] - d->offsets[idx[j]]);
    if (grow((void **)&g->off, &g->coff, n + 1, sizeof *g->off) ||
        (d->tokens && grow((void **)&g->tok, &g->ctok, steps, sizeof *g->tok)) ||
        (d->labels && grow((void **)&g->lab, &g->clab, n, sizeof *g->lab)) ||
        (d->step_labels && grow((void **)&g->slab, &g->cslab, steps, sizeof *g->slab)) ||
        (d->features && grow((void **)&g->feat, &g->cfeat, steps * (size_t)F, sizeof *g->feat)) ||
        (d->targets && grow((void **)&g->tgt, &g->ctgt, (per_step ? steps : n) * (size_t)O, sizeof *g->tgt))) {
        cli_error("out of memory gathering a batch");
        return EXIT_RUNTIME;
    }
    size_t at = 0;
    g->off[0] = 0;
    for (size_t j = 0; j < n; j++) {
        size_t i = idx[j], a = (size_t)d->offsets[i], len = (size_t)d->offsets[i + 1] - a;
        if (d->tokens) memcpy(g->tok + at, d->tokens + a, len * sizeof *g->tok);
        if (d->step_labels) memcpy(g->slab + at, d->step_labels + a, len * sizeof *g->slab);
        if (d->features) memcpy(g->feat + at * F, d->features + a * F, len * F * sizeof *g->feat);
        if (d->labels) g->lab[j] = d->labels[i];
        if (d->targets && per_step) memcpy(g->tgt + at * O, d->targets + a * O, len * O * sizeof *g->tgt);
        else if (d->targets) memcpy(g->tgt + j * O, d->targets + i * O, (size_t)O * sizeof *g->tgt);
        at += len;
        g->off[j + 1] = (int32_t)at;
    }
    *out = (recur_batch){(int)n,
                         d->tokens ? g->tok : NULL,
                         g->off,
                         d->labels ? g->lab : NULL,
                         d->features ? g->feat : NULL,
                         d->step_labels ? g->slab : NULL,
                         d->targets ? g->tgt : NULL};
    return 0;
}

void seq_gather_free(seq_gather *g)
{
    free(g->tok);
    free(g->off);
    free(g->lab);
    free(g->slab);
    free(g->feat);
    free(g->tgt);
    memset(g, 0, sizeof *g);
}

int seq_speech_silence(const recur_model *m)
{
    const recur_model_config *c = recur_model_get_config(m);
    recur_features_config fc;
    recur_error err;
    if (c->task != RECUR_TASK_TAG || c->head != RECUR_HEAD_STEPS || recur_model_get_features(m, &fc, &err)) return -1;
    return recur_model_label_find(m, "sil");
}

/* One sequence's frame labels and strings. */
typedef struct str_buf {
    int32_t *arg, *hyp, *ref;
    size_t ca, ch, cr;
} str_buf;

/* The strings of batch b's sequences (out: their frames' log-probabilities,
 * b's tags in the model's numbering). */
static recur_status add_strings(seq_scores *sc, const recur_batch *b, const float *out, int K, int sil, str_buf *w,
                                recur_error *err)
{
    recur_status st = RECUR_OK;
    for (int j = 0; !st && j < b->n; j++) {
        size_t a = (size_t)b->offsets[j], T = (size_t)b->offsets[j + 1] - a;
        if (grow((void **)&w->arg, &w->ca, T, sizeof *w->arg) || grow((void **)&w->hyp, &w->ch, T, sizeof *w->hyp) ||
            grow((void **)&w->ref, &w->cr, T, sizeof *w->ref)) {
            snprintf(err->message, sizeof err->message, "out of memory reading strings");
            return RECUR_ERR_NOMEM;
        }
        for (size_t t = 0; t < T; t++) {
            const float *r = out + (a + t) * (size_t)K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (r[k] > r[best]) best = k;
            w->arg[t] = best;
        }
        int nr = recur_collapse_runs(b->step_labels + a, (int)T, sil, w->ref);
        int nh = recur_collapse_runs(w->arg, (int)T, sil, w->hyp);
        st = recur_string_metrics_add(&sc->str_raw, w->hyp, nh, w->ref, nr, err);
        recur_smooth_runs(w->arg, (int)T, sc->min_run);
        nh = recur_collapse_runs(w->arg, (int)T, sil, w->hyp);
        if (!st) st = recur_string_metrics_add(&sc->str, w->hyp, nh, w->ref, nr, err);
    }
    return st;
}

int seq_score(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n, const char *path,
              seq_scores *sc)
{
    return seq_score_at(m, data, idx, n, path, SPEECH_MIN_RUN, sc);
}

int seq_score_at(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n, const char *path,
                 int min_run, seq_scores *sc)
{
    memset(sc, 0, sizeof *sc);
    int sil = seq_speech_silence(m);
    sc->strings = sil >= 0 && data->step_labels;
    sc->min_run = min_run;
    recur_string_metrics_reset(&sc->str_raw);
    recur_string_metrics_reset(&sc->str);
    str_buf w = {0};
    const recur_model_config *c = recur_model_get_config(m);
    sc->task = c->task;
    recur_error err;
    recur_status st = RECUR_OK;
    int K = recur_model_output_size(m), per_step = c->head == RECUR_HEAD_STEPS;
    const char *missing = c->task == RECUR_TASK_CLASSIFY && !data->labels ? "label per sequence"
                          : c->task == RECUR_TASK_TAG && !data->step_labels ? "tags per step"
                          : c->task == RECUR_TASK_REGRESS && !data->targets ? "real targets"
                                                                              : NULL;
    if (c->task == RECUR_TASK_GENERATE) missing = "next symbols (a generator is scored against names folders)";
    if (missing) {
        cli_error("%s holds no %s to score the model on", path, missing);
        return EXIT_RUNTIME;
    }
    if (c->task == RECUR_TASK_CLASSIFY) st = recur_metrics_init(&sc->cls, K, &err);
    else if (c->task == RECUR_TASK_TAG) st = recur_tag_metrics_init(&sc->tag, K, &err);
    else st = recur_regress_metrics_init(&sc->reg, K, &err);
    if (st) {
        cli_lib_error("scores", &err);
        return EXIT_RUNTIME;
    }
    enum { EB = 128 };
    recur_runner *rn = NULL;
    seq_gather g = {0};
    float *out = NULL;
    size_t cap = 0, pick[EB];
    int rc = 0;
    if ((st = recur_runner_create(m, EB, &rn, &err))) rc = EXIT_RUNTIME;
    for (size_t at = 0; !rc && at < n; at += EB) {
        if (cli_interrupted()) {
            cli_error("interrupted");
            rc = EXIT_INTERRUPTED;
            break;
        }
        size_t k = n - at < EB ? n - at : EB;
        for (size_t j = 0; j < k; j++) pick[j] = idx ? idx[at + j] : at + j;
        recur_batch b;
        if ((rc = seq_gather_batch(data, c->input_size, K, per_step, pick, k, &g, &b))) break;
        size_t rows = recur_runner_rows(rn, &b);
        if (grow((void **)&out, &cap, rows * (size_t)K, sizeof *out)) {
            cli_error("out of memory scoring");
            rc = EXIT_RUNTIME;
            break;
        }
        if ((st = recur_runner_predict(rn, &b, out, &err))) {
            rc = EXIT_RUNTIME;
            break;
        }
        if (c->task == RECUR_TASK_CLASSIFY) recur_metrics_add(&sc->cls, out, b.labels, b.n);
        else if (c->task == RECUR_TASK_TAG) st = recur_tag_metrics_add(&sc->tag, &b, out, &err);
        if (!st && sc->strings) st = add_strings(sc, &b, out, K, sil, &w, &err);
        else recur_regress_metrics_add(&sc->reg, out, b.targets, rows);
        if (st) {
            rc = EXIT_RUNTIME;
            break;
        }
        sc->n += k;
    }
    if (st) cli_error("%s: %s", path, err.message);
    recur_runner_free(rn);
    seq_gather_free(&g);
    free(out);
    free(w.arg), free(w.hyp), free(w.ref);
    if (rc) seq_scores_free(sc);
    return rc;
}

void seq_scores_free(seq_scores *sc)
{
    recur_metrics_free(&sc->cls);
    recur_tag_metrics_free(&sc->tag);
    recur_regress_metrics_free(&sc->reg);
}

double seq_scores_main(const seq_scores *sc)
{
    if (sc->task == RECUR_TASK_CLASSIFY) return recur_metrics_accuracy(&sc->cls);
    if (sc->task == RECUR_TASK_TAG) return recur_tag_metrics_accuracy(&sc->tag);
    return recur_regress_metrics_mse(&sc->reg);
}
