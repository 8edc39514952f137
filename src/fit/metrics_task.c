/*
 * Scores of tagging (per-step accuracy, whole-sequence exact match, per-
 * class precision / recall / F1) and regression (MSE, MAE, R²), accumulated
 * over batches so that a data set larger than one batch is scored exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "recur.h"

recur_status recur_tag_metrics_init(recur_tag_metrics *m, int num_labels, recur_error *err)
{
    memset(m, 0, sizeof *m);
    if (num_labels < 1 || num_labels > 100000)
        return recur_fail(err, RECUR_ERR_ARG, "%d labels (need 1..100000)", num_labels);
    m->num_labels = num_labels;
    m->confusion = calloc((size_t)num_labels * num_labels, sizeof *m->confusion);
    if (!m->confusion) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a %d-label confusion matrix", num_labels);
    return RECUR_OK;
}

void recur_tag_metrics_reset(recur_tag_metrics *m)
{
    m->steps = m->correct = m->sequences = m->exact = 0;
    if (m->confusion) memset(m->confusion, 0, (size_t)m->num_labels * m->num_labels * sizeof *m->confusion);
}

void recur_tag_metrics_free(recur_tag_metrics *m)
{
    if (!m) return;
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

recur_status recur_tag_metrics_add(recur_tag_metrics *m, const recur_batch *b, const float *logprobs,
                                   recur_error *err)
{
    if (!b || !b->offsets || !b->step_labels || !logprobs || b->n < 0)
        return recur_fail(err, RECUR_ERR_ARG, "tag metrics need a batch with step labels and the log-probabilities");
    const int C = m->num_labels;
    /* Check everything first, so that a bad batch adds nothing. */
    for (int32_t k = 0; k < b->offsets[b->n]; k++)
        if (b->step_labels[k] >= C)
            return recur_fail(err, RECUR_ERR_ARG, "step %d has label %d (the metrics have %d)", (int)k,
                              (int)b->step_labels[k], C);
    for (int i = 0; i < b->n; i++) {
        size_t scored = 0, right = 0;
        for (int32_t k = b->offsets[i]; k < b->offsets[i + 1]; k++) {
            int truth = b->step_labels[k];
            if (truth < 0) continue;
            const float *row = logprobs + (size_t)k * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (row[c] > row[best]) best = c;
            scored++;
            right += best == truth;
            m->confusion[(size_t)truth * C + best]++;
        }
        m->steps += scored;
        m->correct += right;
        if (scored) {
            m->sequences++;
            m->exact += right == scored;
        }
    }
    return RECUR_OK;
}

double recur_tag_metrics_accuracy(const recur_tag_metrics *m)
{
    return m->steps ? (double)m->correct / (double)m->steps : 0.0;
}

double recur_tag_metrics_exact_match(const recur_tag_metrics *m)
{
    return m->sequences ? (double)m->exact / (double)m->sequences : 0.0;
}

void recur_tag_metrics_class(const recur_tag_metrics *m, int label, double *precision, double *recall,
                             double *f1)
{
    double p = 0, r = 0, f = 0;
    if (label >= 0 && label < m->num_labels) {
        const int C = m->num_labels;
        size_t tp = m->confusion[(size_t)label * C + label], support = 0, predicted = 0;
        for (int c = 0; c < C; c++) {
            support += m->confusion[(size_t)label * C + c];
            predicted += m->confusion[(size_t)c * C + label];
        }
        p = predicted ? (double)tp / (double)predicted : 0.0;
        r = support ? (double)tp / (double)support : 0.0;
        f = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
    if (precision) *precision = p;
    if (recall) *recall = r;
    if (f1) *f1 = f;
}

recur_status recur_regress_metrics_init(recur_regress_metrics *m, int outputs, recur_error *err)
{
    memset(m, 0, sizeof *m);
    if (outputs < 1 || outputs > 65536) return recur_fail(err, RECUR_ERR_ARG, "%d outputs (need 1..65536)", outputs);
    m->outputs = outputs;
    m->mean = calloc((size_t)outputs, sizeof *m->mean);
    m->m2 = calloc((size_t)outputs, sizeof *m->m2);
    m->out_sse = calloc((size_t)outputs, sizeof *m->out_sse);
    if (!m->mean || !m->m2 || !m->out_sse) {
        recur_regress_metrics_free(m);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    return RECUR_OK;
}

void recur_regress_metrics_reset(recur_regress_metrics *m)
{
    m->rows = 0;
    m->sse = m->sae = 0;
    size_t n = (size_t)m->outputs * sizeof(double);
    if (m->mean) memset(m->mean, 0, n);
    if (m->m2) memset(m->m2, 0, n);
    if (m->out_sse) memset(m->out_sse, 0, n);
}

void recur_regress_metrics_free(recur_regress_metrics *m)
{
    if (!m) return;
    free(m->mean);
    free(m->m2);
    free(m->out_sse);
    memset(m, 0, sizeof *m);
}

void recur_regress_metrics_add(recur_regress_metrics *m, const float *pred, const float *target, size_t rows)
{
    const int K = m->outputs;
    for (size_t r = 0; r < rows; r++) {
        m->rows++;
        for (int k = 0; k < K; k++) {
            double y = target[r * K + k], d = (double)pred[r * K + k] - y;
            m->sse += d * d;
            m->sae += fabs(d);
            m->out_sse[k] += d * d;
            /* Welford: the targets' spread without a second pass. */
            double delta = y - m->mean[k];
            m->mean[k] += delta / (double)m->rows;
            m->m2[k] += delta * (y - m->mean[k]);
        }
    }
}

double recur_regress_metrics_mse(const recur_regress_metrics *m)
{
    return m->rows ? m->sse / ((double)m->rows * m->outputs) : 0.0;
}

double recur_regress_metrics_mae(const recur_regress_metrics *m)
{
    return m->rows ? m->sae / ((double)m->rows * m->outputs) : 0.0;
}

double recur_regress_metrics_r2(const recur_regress_metrics *m)
{
    if (!m->rows) return 0.0;
    double s = 0;
    for (int k = 0; k < m->outputs; k++) {
        if (m->m2[k] > 0) s += 1.0 - m->out_sse[k] / m->m2[k];
        else s += m->out_sse[k] == 0 ? 1.0 : 0.0;
    }
    return s / m->outputs;
}
