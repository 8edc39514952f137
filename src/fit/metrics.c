/*
 * Scores of a model over a set of sequences: the confusion matrix and what
 * follows from it (accuracy, per-label precision, recall and F1, macro
 * recall) and the mean loss, computed in batches through a runner
 * (classifiers) or a forward pass with no optimiser state (generators).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fit/fit.h"
#include "core/rng.h"
#include "model/pass.h"

recur_status recur_metrics_init(recur_metrics *m, int num_labels, recur_error *err)
{
    memset(m, 0, sizeof *m);
    if (num_labels < 0 || num_labels > 1 << 16)
        return recur_fail(err, RECUR_ERR_ARG, "metrics of %d labels", num_labels);
    m->num_labels = num_labels;
    if (num_labels > 0) {
        m->confusion = calloc((size_t)num_labels * (size_t)num_labels, sizeof *m->confusion);
        if (!m->confusion) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a confusion matrix");
    }
    return RECUR_OK;
}

void recur_metrics_reset(recur_metrics *m)
{
    m->n = m->correct = m->terms = 0;
    m->loss_sum = 0;
    if (m->confusion) memset(m->confusion, 0, (size_t)m->num_labels * (size_t)m->num_labels * sizeof *m->confusion);
}

void recur_metrics_free(recur_metrics *m)
{
    if (!m) return;
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void recur_metrics_add(recur_metrics *m, const float *logprobs, const int32_t *labels, int n)
{
    const int C = m->num_labels;
    for (int i = 0; i < n; i++) {
        const float *lp = logprobs + (size_t)i * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (lp[c] > lp[best]) best = c;
        int y = labels[i];
        if (m->confusion) m->confusion[(size_t)y * C + best]++;
        m->correct += best == y;
        m->loss_sum -= lp[y];
        m->n++;
        m->terms++;
    }
}

double recur_metrics_accuracy(const recur_metrics *m) { return m->n ? (double)m->correct / (double)m->n : 0.0; }

double recur_metrics_loss(const recur_metrics *m) { return m->terms ? m->loss_sum / (double)m->terms : 0.0; }

size_t recur_metrics_support(const recur_metrics *m, int c)
{
    size_t s = 0;
    if (!m->confusion || c < 0 || c >= m->num_labels) return 0;
    for (int j = 0; j < m->num_labels; j++) s += m->confusion[(size_t)c * m->num_labels + j];
    return s;
}

static size_t predicted(const recur_metrics *m, int c)
{
    size_t s = 0;
    for (int i = 0; i < m->num_labels; i++) s += m->confusion[(size_t)i * m->num_labels + c];
    return s;
}

void recur_metrics_class(const recur_metrics *m, int c, double *precision, double *recall, double *f1)
{
    double p = 0, r = 0;
    if (m->confusion && c >= 0 && c < m->num_labels) {
        size_t tp = m->confusion[(size_t)c * m->num_labels + c], sup = recur_metrics_support(m, c),
               pred = predicted(m, c);
        p = pred ? (double)tp / (double)pred : 0.0;
        r = sup ? (double)tp / (double)sup : 0.0;
    }
    if (precision) *precision = p;
    if (recall) *recall = r;
    if (f1) *f1 = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double recur_metrics_macro_recall(const recur_metrics *m)
{
    double sum = 0;
    int k = 0;
    for (int c = 0; c < m->num_labels; c++) {
        if (!recur_metrics_support(m, c)) continue;
        double r;
        recur_metrics_class(m, c, NULL, &r, NULL);
        sum += r;
        k++;
    }
    return k ? sum / k : 0.0;
}

/* ------------------------------------------------------------------------ */
/* Scoring a model                                                           */
/* ------------------------------------------------------------------------ */

static recur_status classify_scores(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n,
                                    int EB, const volatile sig_atomic_t *stop, recur_metrics *out,
                                    recur_error *err)
{
    recur_runner *rn = NULL;
    RECUR_TRY(recur_runner_create(m, EB, &rn, err));
    const int C = recur_model_num_labels(m);
    float *lp = malloc((size_t)EB * (size_t)C * sizeof *lp);
    size_t *pick = malloc((size_t)EB * sizeof *pick);
    fit_gather_buf gb;
    fit_gather_init(&gb, m);
    recur_status s = lp && pick ? RECUR_OK : recur_fail(err, RECUR_ERR_NOMEM, "out of memory evaluating");
    for (size_t at = 0; !s && at < n; at += (size_t)EB) {
        if (stop && *stop) {
            s = recur_fail(err, RECUR_ERR_INTERRUPTED, "interrupted");
            break;
        }
        size_t k = n - at < (size_t)EB ? n - at : (size_t)EB;
        for (size_t j = 0; j < k; j++) pick[j] = idx ? idx[at + j] : at + j;
        recur_batch b;
        s = fit_gather(data, pick, k, &gb, &b, err);
        if (!s) s = b.features ? recur_runner_predict(rn, &b, lp, err)
                               : recur_runner_classify_ids(rn, b.tokens, b.offsets, b.n, lp, err);
        if (!s) recur_metrics_add(out, lp, b.labels, b.n);
    }
    fit_gather_free(&gb);
    free(pick);
    free(lp);
    recur_runner_free(rn);
    return s;
}

/* Generators: -log p of every predicted symbol, summed, through a forward
 * pass in evaluation mode (nothing of a trainer). */
static recur_status generate_scores(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n,
                                    int EB, const volatile sig_atomic_t *stop, recur_metrics *out,
                                    recur_error *err)
{
    pass ps;
    RECUR_TRY(pass_init(&ps, m, 0, err));
    recur_rng unused;
    recur_rng_seed(&unused, 0);
    const int generate = recur_model_get_config(m)->task == RECUR_TASK_GENERATE;
    size_t *pick = malloc((size_t)EB * sizeof *pick);
    fit_gather_buf gb;
    fit_gather_init(&gb, m);
    recur_status s = pick ? RECUR_OK : recur_fail(err, RECUR_ERR_NOMEM, "out of memory evaluating");
    for (size_t at = 0; !s && at < n; at += (size_t)EB) {
        if (stop && *stop) {
            s = recur_fail(err, RECUR_ERR_INTERRUPTED, "interrupted");
            break;
        }
        size_t k = n - at < (size_t)EB ? n - at : (size_t)EB;
        for (size_t j = 0; j < k; j++) pick[j] = idx ? idx[at + j] : at + j;
        recur_batch b;
        s = fit_gather(data, pick, k, &gb, &b, err);
        if (!s) s = pass_prepare(&ps, m, &b, err);
        if (!s) {
            out->loss_sum += pass_forward(&ps, m, &unused);
            /* Generators: a term per predicted symbol (a head row); taggers
             * and regressors: the trainer's terms (labelled steps, target
             * elements), and a tagger's right steps in correct. */
            out->terms += generate ? (size_t)ps.rows : ps.terms;
            if (!generate) out->correct += pass_correct(&ps, m);
            out->n += k;
        }
    }
    fit_gather_free(&gb);
    free(pick);
    pass_free(&ps);
    return s;
}

recur_status recur_evaluate(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n, int batch,
                            const volatile sig_atomic_t *stop, recur_metrics *out, recur_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!m || !data || !out) return recur_fail(err, RECUR_ERR_ARG, "evaluate needs a model, data and metrics");
    if (!data->offsets || data->n < 0) return recur_fail(err, RECUR_ERR_ARG, "evaluate: data without offsets");
    if (!idx && n > (size_t)data->n) return recur_fail(err, RECUR_ERR_ARG, "evaluate: %zu of %d sequences", n, data->n);
    for (size_t i = 0; idx && i < n; i++)
        if (idx[i] >= (size_t)data->n)
            return recur_fail(err, RECUR_ERR_ARG, "evaluate: index %zu past the %d sequences", idx[i], data->n);
    const int EB = batch > 0 ? batch : 256;
    const int classify = recur_model_get_config(m)->task == RECUR_TASK_CLASSIFY;
    RECUR_TRY(recur_metrics_init(out, classify ? recur_model_num_labels(m) : 0, err));
    recur_status s = classify ? classify_scores(m, data, idx, n, EB, stop, out, err)
                              : generate_scores(m, data, idx, n, EB, stop, out, err);
    if (s) recur_metrics_free(out); /* nothing half-counted is returned */
    return s;
}
